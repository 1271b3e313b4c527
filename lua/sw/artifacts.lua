-- Uploading everything under artifact_dir as the task's artifacts: names
-- are paths relative to artifact_dir, content types as the Python worker
-- guesses them (sw.mime), text types gzipped and sent with
-- Content-Encoding: gzip, expiring with the task, storage "s3" (the Queue
-- hands out a putUrl) or "object" (the object service's upload flow).
-- Uploads run in parallel under a semaphore, each retried on 5xx and
-- transport failures; a symlink that leaves artifact_dir is never read.
local fs = require("sw.fs")
local hash = require("sw.hash")
local http = require("sw.http")
local log = require("sw.log")
local sched = require("sw.sched")
local mime = require("sw.mime")

local M = {}

-- Text artifacts up to this size are gzipped in memory, larger ones into a
-- temporary file.
M.GZIP_IN_MEMORY = 1024 * 1024

-- The files to upload: {name, path, size} sorted by name, and the entries
-- refused (with why).
function M.collect(artifact_dir)
  local files, skipped = {}, {}
  if not fs.exists(artifact_dir) then
    return files, skipped
  end
  local names, err = fs.walk(artifact_dir)
  if not names then
    return nil, err
  end
  for _, name in ipairs(names) do
    local path, why = fs.safe_join(artifact_dir, name)
    local st = path and fs.stat(path)
    if not path then
      skipped[#skipped + 1] = { name = name, reason = why }
    elseif not st or st.type ~= "file" then
      skipped[#skipped + 1] = { name = name, reason = "not a regular file" }
    else
      files[#files + 1] = { name = name, path = path, size = st.size }
    end
  end
  return files, skipped
end

-- PUTs a file (path) or, for a small gzipped one, its bytes in memory
-- (a table {body = bytes}).
local function put_file(url, path, headers, timeout)
  local res, msg, code = http.request({
    method = "PUT",
    url = url,
    headers = headers,
    body_file = type(path) == "string" and path or nil,
    body = type(path) == "table" and path.body or nil,
    timeout = timeout,
  })
  if not res then
    return nil, string.format("PUT failed: %s", msg), code
  end
  if res.status ~= 200 and res.status ~= 204 then
    return nil, string.format("PUT answered HTTP %d", res.status), res.status >= 500 and "server" or "client"
  end
  return true
end

local function upload_s3(ctx, file, upload_path, content_type, encoding)
  local answer, err = ctx.queue:call("createArtifact", ctx.task_id, ctx.run_id, file.name, {
    storageType = "s3",
    expires = ctx.expires,
    contentType = content_type,
    contentLength = file.size,
  })
  if not answer then
    return nil, tostring(err), err.status and err.status < 500 and "client" or "server"
  end
  local headers = { ["Content-Type"] = content_type }
  if encoding then
    headers["Content-Encoding"] = encoding
  end
  return put_file(answer.putUrl, upload_path, headers, ctx.timeout)
end

local function upload_object(ctx, file, content_type)
  local answer, err = ctx.queue:call("createArtifact", ctx.task_id, ctx.run_id, file.name, {
    storageType = "object",
    expires = ctx.expires,
    contentType = content_type,
    contentLength = file.size,
  })
  if not answer then
    return nil, tostring(err), err.status and err.status < 500 and "client" or "server"
  end
  local object = ctx.queue:with_credentials(answer.credentials)
  local proposal = {
    projectId = answer.projectId,
    uploadId = answer.uploadId,
    expires = answer.expires,
    proposedUploadMethods = { putUrl = { contentType = content_type, contentLength = file.size } },
  }
  local upload
  upload, err = object:call("createUpload", answer.name, proposal)
  if not upload then
    return nil, tostring(err), err.status and err.status < 500 and "client" or "server"
  end
  local method = upload.uploadMethod and upload.uploadMethod.putUrl
  if type(method) ~= "table" then
    return nil, "the object service offered no putUrl upload method", "client"
  end
  local ok, msg, code = put_file(method.url, file.path, method.headers, ctx.timeout)
  if not ok then
    return nil, msg, code
  end
  local sums = {}
  for _, alg in ipairs({ "sha256", "sha512" }) do
    local d, herr = hash.file(file.path, alg)
    if not d then
      return nil, tostring(herr), "client"
    end
    sums[alg] = d
  end
  local done
  done, err = object:call("finishUpload", answer.name, {
    projectId = answer.projectId,
    uploadId = answer.uploadId,
    hashes = sums,
  })
  if not done then
    return nil, tostring(err), err.status and err.status < 500 and "client" or "server"
  end
  done, err = ctx.queue:call("finishArtifact", ctx.task_id, ctx.run_id, file.name, {
    uploadId = answer.uploadId,
  })
  if not done then
    return nil, tostring(err), err.status and err.status < 500 and "client" or "server"
  end
  return true
end

-- Uploads one file with retries. Returns true or nil, message.
local function upload_one(ctx, file)
  local content_type, encoding = mime.guess(file.name)
  local upload_path = file.path
  local gz
  if ctx.storage_type == "s3" and mime.should_gzip(content_type, encoding) then
    if file.size <= M.GZIP_IN_MEMORY then
      -- Small files (logs, manifests): gzipped in memory, no temporary
      -- file to write, fsync and remove.
      local data, err = fs.read_file(file.path, M.GZIP_IN_MEMORY)
      if not data then
        return nil, "cannot gzip: " .. tostring(err)
      end
      upload_path = { body = fs.gzip_string(data) }
    else
      gz = ctx.tmp_dir .. "/" .. hash.string(file.name, "sha256") .. ".gz"
      local ok, err = fs.gzip_file(file.path, gz)
      if not ok then
        return nil, "cannot gzip: " .. tostring(err)
      end
      upload_path = gz
    end
    encoding = "gzip"
  end
  local _gz <close> = setmetatable({}, { __close = function()
    if gz then
      fs.remove(gz)
    end
  end })
  local last
  for attempt = 1, ctx.attempts do
    local ok, msg, code
    if ctx.storage_type == "object" then
      ok, msg, code = upload_object(ctx, file, content_type)
    else
      ok, msg, code = upload_s3(ctx, file, upload_path, content_type, encoding)
    end
    if ok then
      log.info("uploaded artifact", {
        name = file.name, content_type = content_type, encoding = encoding or "identity",
        bytes = file.size, attempt = attempt,
      })
      return true
    end
    last = msg
    if code == "client" then
      break
    end
    log.warn("artifact upload failed, retrying", { name = file.name, attempt = attempt, error = msg })
    if attempt < ctx.attempts then
      sched.sleep(math.min(2 ^ attempt * ctx.backoff_base * (0.75 + math.random() * 0.5), 30))
    end
  end
  return nil, last
end

-- Uploads every file. opts: artifact_dir, queue (a sw.queue client with
-- the task's credentials), task_id, run_id, expires, storage_type,
-- concurrency, attempts, timeout, tmp_dir. Returns a summary {uploaded =
-- {...names}, failed = {{name, error}...}, skipped = {...}}.
function M.upload_all(opts)
  local files, skipped = M.collect(opts.artifact_dir)
  local summary = { uploaded = {}, failed = {}, skipped = skipped or {} }
  if not files then
    summary.failed[1] = { name = opts.artifact_dir, error = tostring(skipped) }
    return summary
  end
  for _, s in ipairs(summary.skipped) do
    log.warn("not uploading artifact", { name = s.name, reason = s.reason })
  end
  assert(fs.mkdirp(opts.tmp_dir))
  local ctx = {
    queue = opts.queue,
    task_id = opts.task_id,
    run_id = opts.run_id,
    expires = opts.expires,
    storage_type = opts.storage_type or "s3",
    attempts = opts.attempts or 5,
    timeout = opts.timeout or 1200,
    tmp_dir = opts.tmp_dir,
    backoff_base = opts.backoff_base or 0.5,
  }
  local sem = sched.semaphore(opts.concurrency or 10)
  local tasks = {}
  for i, file in ipairs(files) do
    tasks[i] = sched.spawn(function()
      return sem:with(upload_one, ctx, file)
    end)
  end
  for i, r in ipairs(sched.wait_all(tasks)) do
    local name = files[i].name
    if r[1] == true and r[2] == true then
      summary.uploaded[#summary.uploaded + 1] = name
    else
      local why = r[1] == true and r[3] or r[2]
      summary.failed[#summary.failed + 1] = { name = name, error = tostring(why) }
      log.error("artifact upload failed", { name = name, error = tostring(why) })
    end
  end
  fs.rmtree(opts.tmp_dir)
  return summary
end

-- Creates a link artifact (live_backing.log -> chain_of_trust.log after a
-- verification failure) or an error artifact.
function M.create_link(q, task_id, run_id, name, target, expires)
  return q:call("createArtifact", task_id, run_id, name, {
    storageType = "link", artifact = target, expires = expires, contentType = "text/plain",
  })
end

return M
