-- An example signing script, run by the worker as
--   scriptworker lua examples/scripts/demo-signing.lua SCRIPT_CONFIG
-- after the chain of trust of its task was verified. Like a real
-- signingscript it reads its task from work_dir/task.json, takes each
-- upstream artifact from work_dir/cot/<taskId>/<path> (where the worker left
-- the bytes whose digests it checked against the upstream chain-of-trust
-- artifacts), signs it and writes the signature under artifact_dir, which the
-- worker uploads. It never downloads anything itself: what it signs is
-- exactly what was verified.
--
-- SCRIPT_CONFIG is a JSON file: {work_dir, artifact_dir, signing_key} where
-- signing_key is an ed25519 private key file (base64 of the 32-byte seed, as
-- `scriptworker keygen` writes it). Each input gets two artifacts:
--   public/build/<name>.sha256  its sha256 digest
--   public/build/<name>.sig     the base64 ed25519 signature of its bytes
-- Exit codes as the Python worker reads them: 0 success, 1 failure, 3
-- malformed-payload (a task this script cannot sign).
local fs = require("sw.fs")
local hash = require("sw.hash")
local json = require("sw.json")
local sign = require("sw.sign")

local function say(fmt, ...)
  io.stdout:write("demo-signing: ", string.format(fmt, ...), "\n")
  io.stdout:flush()
end

local function die(code, fmt, ...)
  io.stderr:write("demo-signing: ", string.format(fmt, ...), "\n")
  os.exit(code)
end

local config_path = arg[1]
if not config_path then
  die(1, "usage: demo-signing.lua SCRIPT_CONFIG")
end
local config, cerr = json.decode_file(config_path)
if type(config) ~= "table" then
  die(1, "%s: %s", config_path, tostring(cerr))
end
for _, k in ipairs({ "work_dir", "artifact_dir", "signing_key" }) do
  if type(config[k]) ~= "string" then
    die(1, "%s: %s: expected a path, got %s", config_path, k, tostring(config[k]))
  end
end

local task, terr = json.decode_file(config.work_dir .. "/task.json")
if type(task) ~= "table" then
  die(1, "task.json: %s", tostring(terr))
end
local ups = type(task.payload) == "table" and task.payload.upstreamArtifacts
if type(ups) ~= "table" or #ups == 0 then
  die(3, "task %s: payload.upstreamArtifacts: nothing to sign", tostring(os.getenv("TASK_ID")))
end

local signer <close>, kerr = sign.load_signer(config.signing_key)
if not signer then
  die(1, "%s", kerr)
end
say("task %s run %s: signing %d upstream tasks' artifacts with key %s", tostring(os.getenv("TASK_ID")),
  tostring(os.getenv("RUN_ID")), #ups, sign.b64encode(signer:public()))

local out_dir = config.artifact_dir .. "/public/build"
assert(fs.mkdirp(out_dir))
local written = {}
for i, entry in ipairs(ups) do
  if type(entry) ~= "table" or type(entry.taskId) ~= "string" or type(entry.paths) ~= "table" then
    die(3, "payload.upstreamArtifacts[%d]: expected {taskId, taskType, paths}", i)
  end
  local task_dir = config.work_dir .. "/cot/" .. entry.taskId
  if not fs.exists(task_dir) then
    die(1, "upstreamArtifacts[%d]: no verified artifacts of %s %s in work_dir/cot (is verify_chain_of_trust on?)",
      i, tostring(entry.taskType), entry.taskId)
  end
  for _, path in ipairs(entry.paths) do
    -- The worker already refused a task with `..` or an absolute path;
    -- safe_join keeps this script honest on its own too.
    local local_path, jerr = fs.safe_join(task_dir, path)
    if not local_path then
      die(3, "upstreamArtifacts[%d]: %s", i, tostring(jerr))
    end
    local bytes = fs.read_file(local_path)
    if not bytes then
      die(1, "%s: the verified artifact of %s %s is not in work_dir/cot", path, tostring(entry.taskType),
        entry.taskId)
    end
    local name = path:match("([^/]+)$")
    if written[name] then
      die(3, "%s: two upstream artifacts named %s", path, name)
    end
    written[name] = true
    local digest = hash.string(bytes, "sha256")
    local sig = sign.b64encode(signer:sign(bytes))
    assert(fs.write_file_atomic(out_dir .. "/" .. name .. ".sha256", digest .. "  " .. name .. "\n"))
    assert(fs.write_file_atomic(out_dir .. "/" .. name .. ".sig", sig .. "\n"))
    say("%s of %s %s (%d bytes, sha256 %s...) -> public/build/%s.sig", path, tostring(entry.taskType),
      entry.taskId, #bytes, digest:sub(1, 16), name)
  end
end
say("done")
