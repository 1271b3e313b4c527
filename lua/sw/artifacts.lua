-- Uploading everything under artifact_dir as the task's artifacts: names
-- are paths relative to artifact_dir, content types as the Python worker
-- guesses them (sw.mime), text types gzipped and sent with
-- Content-Encoding: gzip, expiring with the task, storage "s3" (the Queue
-- hands out a putUrl) or "object" (the object service's upload flow).
-- Uploads run in parallel under a semaphore, each retried on 5xx and
-- transport failures; a symlink that leaves artifact_dir is never read.
local fs = require("sw.fs")
local hash = require("sw.hash")
local log = require("sw.log")
local sched = require("sw.sched")
local mime = require("sw.mime")

local M = {}

-- Text artifacts up to this size are gzipped in memory, larger ones into a
-- temporary file.
M.GZIP_IN_MEMORY = 1024 * 1024

-- The files to upload: {name, path, size} sorted by name, and the entries
-- refused (with why); or nil, msg, code when the tree cannot be read.
function M.collect(artifact_dir)
  local files, skipped = {}, {}
  if not fs.exists(artifact_dir) then
    return files, skipped
  end
  local names, err, code = fs.walk(artifact_dir)
  if not names then
    return nil, err, code
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

-- The file list of a snapshot in dir, from what fs.snapshot returned
-- ({name, size}...): the same shape as collect's, without walking dir
-- again.
function M.listing(dir, entries)
  local files = {}
  for i, e in ipairs(entries or {}) do
    files[i] = { name = e.name, path = dir .. "/" .. e.name, size = e.size }
  end
  return files
end

-- Puts the file the worker wrote at dir/name into files (a listing,
-- sorted by name), in place of an entry of that name: the worker's logs
-- and chain-of-trust artifact replace what the script left there.
-- Returns true, or nil, msg, code when the file cannot be read.
function M.list_put(files, dir, name)
  local path = dir .. "/" .. name
  local st, err, code = fs.stat(path)
  if not st then
    return nil, err, code
  end
  local entry = { name = name, path = path, size = st.size }
  local lo, hi = 1, #files
  while lo <= hi do
    local mid = (lo + hi) // 2
    if files[mid].name == name then
      files[mid] = entry
      return true
    elseif files[mid].name < name then
      lo = mid + 1
    else
      hi = mid - 1
    end
  end
  table.insert(files, lo, entry)
  return true
end

-- The largest file one upload sends: S3 takes at most 5 GiB in a single
-- PUT, and the Queue's putUrl is a single PUT.
M.MAX_ARTIFACT_BYTES = 5 * 1024 * 1024 * 1024

-- Why the Queue would refuse an artifact whatever the attempt (nil when it
-- would not): its name rule (the route's `^[\x20-\x7e]+$`, printable
-- ASCII) and the size limit. Checked before anything is sent.
function M.refusal(name, size)
  if not name:match("^[\x20-\x7e]+$") then
    return "the Queue accepts only printable ASCII (0x20 to 0x7e) in artifact names"
  end
  if size > M.MAX_ARTIFACT_BYTES then
    return string.format("%d bytes is over the %d-byte upload limit", size, M.MAX_ARTIFACT_BYTES)
  end
  return nil
end

-- The digests fs.snapshot took while copying each file, by name:
-- {sha256, sha512, ino, size}. files as fs.snapshot returns them (or nil).
function M.snapshot_digests(files)
  local out = {}
  for _, f in ipairs(files or {}) do
    if f.sha256 and f.sha512 then
      out[f.name] = { sha256 = f.sha256, sha512 = f.sha512, ino = f.ino, size = f.size }
    end
  end
  return out
end

-- The alg digest fs.snapshot took of file ({name, path}), if the file at
-- path is still that copy, else nil. The worker replaces a file in the
-- snapshot only by renaming a new one over it (its logs, the
-- chain-of-trust artifact), which changes the inode.
function M.known_digest(digests, file, alg)
  local known = digests and digests[file.name]
  if not known or not known[alg] then
    return nil
  end
  local st = fs.stat(file.path)
  if st and st.type == "file" and st.ino == known.ino and st.size == known.size then
    return known[alg]
  end
  return nil
end

-- The alg digest of file: the snapshot's (known_digest), else read from
-- the file. Returns the hex digest or nil, msg, code.
function M.file_digest(digests, file, alg)
  local d = M.known_digest(digests, file, alg)
  if d then
    return d
  end
  return hash.file(file.path, alg)
end

-- HTTP statuses of an upload that another attempt could cure: the
-- credentials were refused (401: expired in flight), the request timed out
-- (408), the run changed hands (409: the report says so) or the Queue was
-- busy (429). Every other 4xx answers the same to every attempt.
local TRANSIENT_4XX = { [401] = true, [408] = true, [409] = true, [429] = true }

-- Whether an upload error (sw.queue's) can only fail again.
function M.is_permanent(err)
  local status = type(err) == "table" and err.status
  return math.type(status) == "integer" and status >= 400 and status < 500 and not TRANSIENT_4XX[status]
end

-- Uploads one file. Returns true or nil, message, code, permanent (true
-- when no retry can succeed).
local function upload_one(ctx, file)
  local refused = M.refusal(file.name, file.size)
  if refused then
    return nil, refused, "invalid", true
  end
  local content_type, encoding = mime.guess(file.name)
  local upload_path = file.path
  local gz
  if ctx.storage_type == "s3" and mime.should_gzip(content_type, encoding) then
    if file.size <= M.GZIP_IN_MEMORY then
      -- Small files (logs, manifests): gzipped in memory, no temporary
      -- file to write, fsync and remove.
      local data, err, code = fs.read_file(file.path, M.GZIP_IN_MEMORY)
      if not data then
        return nil, "cannot gzip: " .. tostring(err), code
      end
      upload_path = { body = fs.gzip_string(data) }
    else
      gz = ctx.tmp_dir .. "/" .. hash.string(file.name, "sha256") .. ".gz"
      -- A temporary, removed after the upload: no fsync (fs.gzip_file
      -- would pay two, for the file and its directory).
      local ok, err, code = fs.gzip_file(file.path, gz, nil, { fsync = false })
      if not ok then
        return nil, "cannot gzip: " .. tostring(err), code
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
  -- The client retries every request of the upload (createArtifact, the
  -- PUT, the object service's calls) queue_retries times.
  local src = type(upload_path) == "table" and { body = upload_path.body } or { path = upload_path }
  -- An object upload sends both digests of the bytes; the snapshot has
  -- them when the file is still its copy (never for gzipped bytes: only
  -- s3 uploads are gzipped).
  local hashes
  if ctx.storage_type == "object" and src.path == file.path then
    local s256 = M.known_digest(ctx.digests, file, "sha256")
    local s512 = M.known_digest(ctx.digests, file, "sha512")
    hashes = s256 and s512 and { sha256 = s256, sha512 = s512 } or nil
  end
  local done, err = ctx.queue:upload_artifact(ctx.task_id, ctx.run_id, file.name, {
    path = src.path,
    body = src.body,
    content_type = content_type,
    content_encoding = ctx.storage_type == "s3" and encoding or nil,
    content_length = file.size,
    expires = ctx.expires,
    storage_type = ctx.storage_type,
    timeout = ctx.timeout,
    hashes = hashes,
  })
  if not done then
    return nil, tostring(err), err.code, M.is_permanent(err)
  end
  log.info("uploaded artifact", {
    name = file.name, content_type = content_type, encoding = encoding or "identity",
    bytes = file.size,
  })
  return true
end

-- Uploads every file. opts: artifact_dir, queue (a sw.queue client with
-- the task's credentials), task_id, run_id, expires, storage_type,
-- concurrency, timeout, tmp_dir, digests (snapshot_digests, optional),
-- files (the listing of artifact_dir when the caller has it, as the task
-- pipeline does from its snapshot; else artifact_dir is walked).
-- Returns a summary {uploaded = {...names}, failed = {{name, error, code,
-- permanent}...}, skipped = {...}}.
function M.upload_all(opts)
  local files, skipped
  if opts.files then
    files, skipped = opts.files, {}
  else
    files, skipped = M.collect(opts.artifact_dir)
  end
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
    timeout = opts.timeout or 1200,
    tmp_dir = opts.tmp_dir,
    digests = opts.digests,
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
      local permanent = r[1] == true and r[5] == true
      summary.failed[#summary.failed + 1] = { name = name, error = tostring(why), permanent = permanent,
        code = r[1] == true and r[4] or "internal" }
      log.error("artifact upload failed", { name = name, error = tostring(why),
        retry = permanent and "cannot succeed" or "may succeed" })
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
