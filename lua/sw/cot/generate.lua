-- Generating this worker's own chain-of-trust artifact, as the Python
-- scriptworker's generate_cot does (cot/VERIFY.md section 10):
-- public/chain-of-trust.json with the digest of every file under
-- artifact_dir, the claimed task definition unchanged, and the run's ids;
-- canonical JSON (sorted keys, 2-space indent, no trailing newline); and,
-- when signing is on, public/chain-of-trust.json.sig, the raw 64-byte
-- ed25519 signature of exactly those bytes.
local fs = require("sw.fs")
local json = require("sw.json")
local schema = require("sw.schema")
local config_mod = require("sw.config")
local artifacts = require("sw.artifacts")

local M = {}

M.JSON_NAME = "public/chain-of-trust.json"
M.SIG_NAME = "public/chain-of-trust.json.sig"

local validator

local function validate(body)
  if not validator then
    local err
    validator, err = schema.load(config_mod.data_dir() .. "/cot_v1_schema.json")
    if not validator then
      error("cot: cannot load the chain-of-trust schema: " .. tostring(err))
    end
  end
  return validator(body)
end

-- opts: artifact_dir, task (the claimed definition), task_id, run_id,
-- worker_group, worker_id, worker_type, alg (default sha256), signer (a
-- sw.Signer, or nil to skip signing), digests (artifacts.snapshot_digests
-- of the snapshot in artifact_dir: reused where the file is still that
-- copy, so each artifact is read once), files (the listing of
-- artifact_dir when the caller has it; else artifact_dir is walked).
-- Returns {path, sig_path, text, body} or nil, message, code: code is
-- "schema" when the body fails the chain-of-trust schema (the task's
-- fault: its definition or ids), "io" for the worker's own failures
-- (listing, hashing, writing, signing).
function M.generate(opts)
  local alg = opts.alg or "sha256"
  local files, err = opts.files, nil
  if not files then
    files, err = artifacts.collect(opts.artifact_dir)
  end
  if not files then
    return nil, "cot: cannot list " .. opts.artifact_dir .. ": " .. tostring(err), "io"
  end
  local digests = json.object({})
  for _, f in ipairs(files) do
    if f.name ~= M.JSON_NAME and f.name ~= M.SIG_NAME then
      local d, herr = artifacts.file_digest(opts.digests, f, alg)
      if not d then
        return nil, "cot: " .. tostring(herr), "io"
      end
      digests[f.name] = json.object({ [alg] = d })
    end
  end
  for _, k in ipairs({ "task_id", "run_id", "worker_group", "worker_id", "worker_type" }) do
    if opts[k] == nil then
      return nil, "cot: can't generate chain of trust: " .. k .. " is missing", "schema"
    end
  end
  local body = json.object({
    artifacts = digests,
    chainOfTrustVersion = 1,
    environment = json.object({}),
    runId = opts.run_id,
    task = opts.task,
    taskId = opts.task_id,
    workerGroup = opts.worker_group,
    workerId = opts.worker_id,
    workerType = opts.worker_type,
  })
  local ok, problems = validate(body)
  if not ok then
    return nil, "cot: the chain-of-trust artifact does not match its schema: "
      .. table.concat(problems, "; "), "schema"
  end
  local text
  text, err = json.encode(body, { canonical = true })
  if not text then
    return nil, "cot: " .. tostring(err), "schema"
  end
  local path = opts.artifact_dir .. "/" .. M.JSON_NAME
  local wrote
  wrote, err = fs.mkdirp(opts.artifact_dir .. "/public")
  if wrote then
    wrote, err = fs.write_file_atomic(path, text, tonumber("644", 8))
  end
  if not wrote then
    return nil, "cot: " .. tostring(err), "io"
  end
  local result = { path = path, text = text, body = body }
  if opts.signer then
    local sig, serr = opts.signer:sign(text)
    if not sig then
      return nil, "cot: cannot sign: " .. tostring(serr), "io"
    end
    local sig_path = opts.artifact_dir .. "/" .. M.SIG_NAME
    wrote, err = fs.write_file_atomic(sig_path, sig, tonumber("644", 8))
    if not wrote then
      return nil, "cot: " .. tostring(err), "io"
    end
    result.sig_path = sig_path
  end
  return result
end

return M
