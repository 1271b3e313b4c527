-- generic-worker: Windows and macOS tasks (and Linux without docker). Its
-- checks (VERIFY.md section 6) refuse tasks that a person could have logged
-- into: an RDP session in the payload or a scope that allows one.

local function truthy(v)
  if v == nil or v == false or v == null or v == 0 or v == "" then
    return false
  end
  return not (type(v) == "table" and next(v) == nil)
end

local function show(v)
  if type(v) == "string" then
    return string.format("%q", v)
  elseif v == null then
    return "null"
  elseif type(v) == "table" then
    return "a table"
  end
  return tostring(v)
end

local RDP_SCOPE = "generic-worker:allow-rdp:"

return {
  name = "generic-worker",
  description = "Taskcluster's generic-worker (Windows, macOS and Linux without docker)",
  -- Public ed25519 keys of the chain-of-trust signatures, base64.
  keys = {
    "Kz/aZIVeR6NP8gQU1U+2CCIZqvbd+4QCP6J63lflwik=",
  },

  -- payload.mounts or payload.osGroups present and not null (even an empty
  -- list counts), as Python's guess_worker_impl decides.
  recognise = function(task, _)
    local payload = task.payload
    if type(payload) ~= "table" then
      return false
    end
    return (payload.mounts ~= nil and payload.mounts ~= null)
      or (payload.osGroups ~= nil and payload.osGroups ~= null)
  end,

  verify = function(link, _)
    local who = link.name .. " " .. link.task_id
    local task = link.task
    if type(task.payload) ~= "table" then
      return nil, string.format("%s: payload: the task definition is malformed, got %s", who, show(task.payload))
    end
    if type(task.scopes) ~= "table" then
      return nil, string.format("%s: scopes: the task definition is malformed, got %s", who, show(task.scopes))
    end
    if truthy(task.payload.rdpInfo) then
      return nil, string.format("%s: payload.rdpInfo: RDP sessions are not allowed, got %s",
        who, show(task.payload.rdpInfo))
    end
    -- Python reports one error per such scope; every one of them is listed.
    local bad = {}
    for i, scope in ipairs(task.scopes) do
      if type(scope) == "string" and scope:sub(1, #RDP_SCOPE) == RDP_SCOPE then
        bad[#bad + 1] = string.format("scopes[%d]: RDP access is not allowed, got %q", i, scope)
      end
    end
    if #bad > 0 then
      return nil, who .. ": " .. table.concat(bad, "; ")
    end
    return true
  end,
}
