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

{{/* ClusterRole in cluster scope, Role in namespace and namespaces scope. */}}
{{- define "modelops.roleKind" -}}
{{- if eq .Values.scope "cluster" -}}ClusterRole{{- else -}}Role{{- end -}}
{{- end -}}

{{/* The namespaces a Role and RoleBinding go to: none in cluster scope (one ClusterRole). */}}
{{- define "modelops.servedNamespaces" -}}
{{- if eq .Values.scope "namespace" -}}
{{- list .Release.Namespace | toJson -}}
{{- else if eq .Values.scope "namespaces" -}}
{{- .Values.watchNamespaces | toJson -}}
{{- else -}}
{{- list "" | toJson -}}
{{- end -}}
{{- end -}}

{{/*
Least privilege: exactly what the operator's handlers call, nothing broader. No Secrets at all
(the jobs' pods read theirs by reference), no pods/exec, no wildcard verbs.
*/}}
{{- define "modelops.rules" -}}
  # The custom resources: watched, annotated by kopf, status written.
  - apiGroups: ["modelops.dev"]
    resources: ["modeldeployments", "driftmonitors", "featurematerializations"]
    verbs: ["get", "list", "watch", "patch"]
  - apiGroups: ["modelops.dev"]
    resources: ["modeldeployments/status", "driftmonitors/status", "featurematerializations/status"]
    verbs: ["get", "patch"]
  # Children, made by server-side apply and pruned when no longer desired.
  - apiGroups: ["apps"]
    resources: ["deployments"]
    verbs: ["get", "list", "watch", "create", "patch", "delete"]
  - apiGroups: [""]
    resources: ["services"]
    verbs: ["get", "list", "watch", "create", "patch", "delete"]
  - apiGroups: ["autoscaling"]
    resources: ["horizontalpodautoscalers"]
    verbs: ["get", "list", "watch", "create", "patch", "delete"]
  - apiGroups: ["policy"]
    resources: ["poddisruptionbudgets"]
    verbs: ["get", "list", "watch", "create", "patch", "delete"]
  - apiGroups: ["batch"]
    resources: ["cronjobs"]
    verbs: ["get", "list", "watch", "create", "patch", "delete"]
  # A rollout's traffic split, read by model pods when they start.
  - apiGroups: [""]
    resources: ["configmaps"]
    verbs: ["get", "list", "watch", "create", "patch", "delete"]
  # Finished runs: results are read from the Job pods' termination messages. A rollout's
  # validation is a Job the operator makes itself.
  - apiGroups: ["batch"]
    resources: ["jobs"]
    verbs: ["get", "list", "watch", "create", "patch"]
  - apiGroups: [""]
    resources: ["pods"]
    verbs: ["get", "list", "watch"]
  - apiGroups: ["", "events.k8s.io"]
    resources: ["events"]
    verbs: ["create", "patch"]
  # kopf peering: the keep-alives of the replicas.
  - apiGroups: ["kopf.dev"]
    resources: ["kopfpeerings", "clusterkopfpeerings"]
    verbs: ["get", "list", "watch", "create", "patch"]
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

{{- define "modelops.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end -}}
