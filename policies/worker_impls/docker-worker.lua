-- docker-worker (and generic-worker's d2g mode, which signs with the second
-- key): tasks that run in a docker image. Its checks (VERIFY.md section 6)
-- refuse interactive tasks and make sure the image itself is trusted: built
-- by a docker-image task of the chain, or a prebuilt image only where the
-- product allows one.

-- Python truthiness: null, false, 0, "" and empty tables are false.
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

local function contains(list, value)
  for _, v in ipairs(list) do
    if v == value then
      return true
    end
  end
  return false
end

-- May a task of this type run an image that no docker-image task of the
-- chain built? Only the product's prebuilt_docker_image_task_types.
local function prebuilt_allowed(link, ctx)
  local allowed = ctx.config.prebuilt_docker_image_task_types
  if allowed == "any" then
    return true
  end
  return type(allowed) == "table" and contains(allowed, link.task_type)
end

-- A task-image: the image is an artifact of a docker-image task of the
-- chain, and the hash docker-worker recorded for the image it ran must be the
-- one that task's chain-of-trust artifact lists.
local function verify_task_image(link, ctx, who, image)
  local extra = link.task.extra
  local cot_inputs = type(extra) == "table" and type(extra.chainOfTrust) == "table"
    and extra.chainOfTrust.inputs
  local input = type(cot_inputs) == "table" and cot_inputs["docker-image"] or nil
  if input == nil or input ~= image.taskId then
    return nil, string.format('%s: extra.chainOfTrust.inputs["docker-image"]: must equal '
      .. "payload.image.taskId %s (docker-image taskId isn't consistent), got %s",
      who, show(image.taskId), show(input))
  end
  local env = type(link.cot) == "table" and link.cot.environment
  local artifact_hash = type(env) == "table" and env.imageArtifactHash or nil
  local alg, hex
  if type(artifact_hash) == "string" then
    alg, hex = artifact_hash:match("^([^:]+):([^:]+)$")
  end
  -- Python accepts any algorithm name here; only the configured ones are
  -- trusted to identify an image.
  if not alg or not contains(ctx.config.valid_hash_algorithms or {}, alg) then
    return nil, string.format("%s: cot.environment.imageArtifactHash: expected \"ALG:HEX\" with ALG one of %s, got %s",
      who, table.concat(ctx.config.valid_hash_algorithms or {}, ", "), show(artifact_hash))
  end
  local image_link = ctx.get_link(image.taskId)
  if not image_link then
    return nil, string.format("%s: payload.image.taskId: the docker-image task is not a link of the chain, got %s",
      who, show(image.taskId))
  end
  local artifacts = type(image_link.cot) == "table" and image_link.cot.artifacts
  local entry = type(artifacts) == "table" and type(image.path) == "string" and artifacts[image.path]
  local expected = type(entry) == "table" and entry[alg] or nil
  if expected == nil then
    return nil, string.format("%s: payload.image.path: docker sha %s of %s is missing from the "
      .. "chain-of-trust artifacts of %s %s, got %s",
      who, alg, show(image.path), image_link.name, image_link.task_id, show(expected))
  end
  if expected ~= hex then
    return nil, string.format("%s: cot.environment.imageArtifactHash: docker sha doesn't match the %s "
      .. "of %s in the chain-of-trust artifacts of %s %s (%s), got %s",
      who, alg, show(image.path), image_link.name, image_link.task_id, tostring(expected), show(artifact_hash))
  end
  return true
end

local function verify_image(link, ctx, who)
  local image = link.task.payload.image
  if type(image) == "table" then
    if image.type == "task-image" then
      return verify_task_image(link, ctx, who, image)
    elseif image.type == "indexed-image" then
      if ctx.restricted then
        return nil, string.format("%s: payload.image.type: indexed images are not usable for tasks "
          .. "with restricted scopes, got \"indexed-image\"", who)
      end
      if not prebuilt_allowed(link, ctx) then
        return nil, string.format("%s: payload.image.type: a %s task is not allowed to use an indexed "
          .. "docker image (prebuilt_docker_image_task_types), got \"indexed-image\"", who, link.task_type)
      end
      return true
    end
    return nil, string.format("%s: payload.image.type: unknown type of docker image, got %s",
      who, show(image.type))
  end
  if not prebuilt_allowed(link, ctx) then
    return nil, string.format("%s: payload.image: a %s task is not allowed to use a prebuilt docker "
      .. "image (prebuilt_docker_image_task_types), got %s", who, link.task_type, show(image))
  end
  return true
end

return {
  name = "docker-worker",
  description = "Taskcluster's docker-worker, and generic-worker running docker tasks (d2g)",
  -- Public ed25519 keys of the chain-of-trust signatures, base64. To rotate,
  -- add the new key, deploy, then remove the old one once no task signed with
  -- it is still verified.
  keys = {
    "kni6ts7z/MRkvs7i6+SF/T6UWj0hAJoHEcrgHB8BBR0=",
    "Kz/aZIVeR6NP8gQU1U+2CCIZqvbd+4QCP6J63lflwik=", -- d2g (generic-worker)
  },

  recognise = function(task, _)
    local payload = task.payload
    if type(payload) == "table" and truthy(payload.image) then
      return true
    end
    if type(task.scopes) == "table" then
      for _, scope in ipairs(task.scopes) do
        if type(scope) == "string" and scope:sub(1, 14) == "docker-worker:" then
          return true
        end
      end
    end
    return false
  end,

  verify = function(link, ctx)
    local who = link.name .. " " .. link.task_id
    local payload = link.task.payload
    -- Python's KeyError "task definition is malformed": both keys are needed.
    local field, value
    if type(payload) ~= "table" then
      field, value = "payload", payload
    elseif type(payload.features) ~= "table" then
      field, value = "payload.features", payload.features
    elseif type(payload.env) ~= "table" then
      field, value = "payload.env", payload.env
    end
    if field then
      return nil, string.format("%s: %s: the task definition is malformed (a docker-worker task "
        .. "must carry payload.features and payload.env objects), got %s", who, field, show(value))
    end
    if truthy(payload.features.interactive) then
      return nil, string.format("%s: payload.features.interactive: interactive tasks are not allowed, got %s",
        who, show(payload.features.interactive))
    end
    if truthy(payload.env.TASKCLUSTER_INTERACTIVE) then
      return nil, string.format("%s: payload.env.TASKCLUSTER_INTERACTIVE: interactive tasks are not "
        .. "allowed, got %s", who, show(payload.env.TASKCLUSTER_INTERACTIVE))
    end
    -- The claimed task itself has no chain-of-trust artifact yet, so its
    -- image cannot be traced (Python skips it too).
    if link.is_root then
      return true
    end
    return verify_image(link, ctx, who)
  end,
}
