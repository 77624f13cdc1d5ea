-- Argo CD health check for modelops.dev/ModelDeployment, read from status.conditions.
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
if c.Degraded ~= nil and c.Degraded.status == "True" then
  hs.status = "Degraded"
  hs.message = c.Degraded.reason .. ": " .. (c.Degraded.message or "")
  return hs
end
-- Stalled: what waiting will not heal (a child refused, a name taken, a spec the platform
-- forbids, a model that does not exist); the operator sets it with Ready's reason.
if c.Stalled ~= nil and c.Stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = c.Stalled.reason .. ": " .. (c.Stalled.message or "")
  return hs
end
-- A rollout held by its pause annotation (or waiting for a manual promotion), as Argo
-- Rollouts reports a paused rollout.
if obj.status.rollout ~= nil and obj.status.rollout.phase == "Paused" then
  hs.status = "Suspended"
  hs.message = "Rollout paused: " .. (obj.status.rollout.message or "")
  return hs
end
if c.Ready ~= nil and c.Ready.status == "True" then
  hs.status = "Healthy"
  hs.message = c.Ready.message or ""
  return hs
end
if c.Ready ~= nil and c.Ready.reason == "Suspended" then
  hs.status = "Suspended"
  hs.message = c.Ready.message or "Suspended"
  return hs
end
hs.status = "Progressing"
if c.Ready ~= nil then
  hs.message = c.Ready.reason .. ": " .. (c.Ready.message or "")
else
  hs.message = "Waiting for the Ready condition"
end
return hs
