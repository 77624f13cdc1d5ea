-- Argo CD health check for modelops.dev/DriftMonitor and FeatureMaterialization (scheduled
-- runs), read from status.conditions: Ready=False is Degraded (the target is missing, the
-- last run failed, or features are stale); drift found is not a health problem of the monitor.
local hs = {}
if obj.status == nil or obj.status.conditions == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the modelops operator"
  return hs
end
if obj.metadata.generation ~= nil and obj.status.observedGeneration ~= nil
    and obj.status.observedGeneration < obj.metadata.generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. obj.metadata.generation
  return hs
end
local c = {}
for _, cond in ipairs(obj.status.conditions) do
  c[cond.type] = cond
end
if c.Ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the Ready condition"
  return hs
end
if c.Ready.status == "True" then
  if obj.spec ~= nil and obj.spec.suspend == true then
    hs.status = "Suspended"
  else
    hs.status = "Healthy"
  end
  hs.message = c.Ready.message or ""
  return hs
end
hs.status = "Degraded"
hs.message = c.Ready.reason .. ": " .. (c.Ready.message or "")
return hs
