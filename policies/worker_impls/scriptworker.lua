-- scriptworker: the workers that hold release secrets (signing, balrog,
-- beetmover, ...). Python makes no implementation check beyond the task-type
-- rule "must be run from scriptworker" (VERIFY.md section 6); the keys below
-- are what makes a scriptworker link trusted.

local DEFAULT_PROVISIONER = "scriptworker-prov-v1"

return {
  name = "scriptworker",
  description = "scriptworker, the release engineering worker (this program and its Python peer)",
  -- Public ed25519 keys of the chain-of-trust signatures, base64.
  keys = {
    "KO3FX9JnNga/XViTRBiUMHYnji9Fu3s332sU2lXjSwE=",
    "jFmyvf3lQiiX0qIFxal5KgIIq6VpUBTQfAtD6hEi8Ms=",
  },

  -- provisionerId in config scriptworker_provisioners, or the historical
  -- scriptworker provisioner, which Python recognises whatever the config.
  recognise = function(task, ctx)
    local provisioner = task.provisionerId
    if provisioner == DEFAULT_PROVISIONER then
      return true
    end
    local listed = ctx.config.scriptworker_provisioners
    if type(listed) == "table" then
      for _, p in ipairs(listed) do
        if p == provisioner then
          return true
        end
      end
    end
    return false
  end,

  verify = function(_, _)
    return true
  end,
}
