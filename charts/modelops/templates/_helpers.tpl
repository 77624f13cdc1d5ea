{{- define "modelops.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "modelops.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "modelops.labels" -}}
{{ include "modelops.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: modelops
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "modelops.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "modelops.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* ClusterRole in cluster scope, Role in namespace scope. */}}
{{- define "modelops.roleKind" -}}
{{- if eq .Values.scope "cluster" -}}ClusterRole{{- else -}}Role{{- end -}}
{{- end -}}

{{/*
Refuses a cluster older than the CRDs need (CEL validations, autoscaling/v2). Not Chart.yaml's
kubeVersion: an offline `helm template` checks that against Helm's built-in default (v1.20.0)
and fails without a cluster. So the check runs whenever a real version is known: install and
upgrade (the cluster's), or `helm template --kube-version X` (Argo CD passes the cluster's).
*/}}
{{- define "modelops.checkKubeVersion" -}}
{{- $v := .Capabilities.KubeVersion.Version -}}
{{- if and (ne $v "v1.20.0") (not (semverCompare ">=1.30.0-0" $v)) -}}
{{- fail (printf "modelops needs Kubernetes 1.30 or newer, the target is %s" $v) -}}
{{- end -}}
{{- end -}}
