-- The Taskcluster Queue client (and the object service calls the Queue's
-- "object" artifacts need), on sw.http. Protocol: taskcluster/PROTOCOL.md;
-- reference: docs/reference.md (sw.queue).
--
--   local q = queue.new{root_url = "...", credentials = {...}}
--   local res, err = q:call("claimWork", "proj/type", {workerGroup = ..., ...})
--
-- Every call returns the decoded JSON answer (an empty object for 204), or
-- nil, err, err.code: err is a table with `call`, `status` (HTTP status, nil
-- for a transport failure), `code` (the Taskcluster error code such as
-- "RequestConflict", or the transport code such as "timeout"), `message`
-- (without lib-api's "---" trailer), and `conflict = true` for 409 ("the
-- task is no longer ours"); tostring() gives one line. 5xx answers and
-- transport failures are retried with Taskcluster's backoff; 4xx never are.
-- Access tokens and certificates are registered with sw.secrets (for the
-- life of the task that records them) before they are first used.
local fs = require("sw.fs")
local hash = require("sw.hash")
local hawk = require("sw.hawk")
local http = require("sw.http")
local json = require("sw.json")
local log = require("sw.log")
local retry = require("sw.retry")
local secrets = require("sw.secrets")
local sign = require("sw.sign")

local M = {}

-- name = {method, service, route, has_body, query names}
local API = {
  task = { "GET", "queue", "/task/<taskId>" },
  status = { "GET", "queue", "/task/<taskId>/status" },
  createTask = { "PUT", "queue", "/task/<taskId>", true },
  cancelTask = { "POST", "queue", "/task/<taskId>/cancel" },
  claimWork = { "POST", "queue", "/claim-work/<taskQueueId>", true },
  reclaimTask = { "POST", "queue", "/task/<taskId>/runs/<runId>/reclaim" },
  reportCompleted = { "POST", "queue", "/task/<taskId>/runs/<runId>/completed" },
  reportFailed = { "POST", "queue", "/task/<taskId>/runs/<runId>/failed" },
  reportException = { "POST", "queue", "/task/<taskId>/runs/<runId>/exception", true },
  createArtifact = { "POST", "queue", "/task/<taskId>/runs/<runId>/artifacts/<name>", true },
  finishArtifact = { "PUT", "queue", "/task/<taskId>/runs/<runId>/artifacts/<name>", true },
  getArtifact = { "GET", "queue", "/task/<taskId>/runs/<runId>/artifacts/<name>" },
  getLatestArtifact = { "GET", "queue", "/task/<taskId>/artifacts/<name>" },
  listArtifacts = {
    "GET", "queue", "/task/<taskId>/runs/<runId>/artifacts", false, { "continuationToken", "limit" },
  },
  listLatestArtifacts = {
    "GET", "queue", "/task/<taskId>/artifacts", false, { "continuationToken", "limit" },
  },
  createUpload = { "PUT", "object", "/upload/<name>", true },
  finishUpload = { "POST", "object", "/finish-upload/<name>", true },
}
M.API = API

-- Transport failures of sw.http worth another attempt: the request may
-- never have arrived, or its answer was cut short.
M.RETRY_CODES = { timeout = true, connect = true, closed = true, resolve = true }

-- ---- errors -----------------------------------------------------------

local Error = {}
Error.__index = Error
Error.__name = "sw.QueueError"

function Error.__tostring(e)
  local where = e.status and ("HTTP " .. e.status) or "transport"
  local msg = (e.message or ""):gsub("%s*\n%s*", " ")
  return string.format("%s: %s %s: %s", e.call, where, tostring(e.code), msg)
end

-- lib-api appends "\n\n---\n\n* method: ...\n* errorCode: ..." to every
-- message; the part before it is what a person needs.
function M.strip_trailer(message)
  local cut
  local from = 1
  while true do
    local i = message:find("\n\n---\n", from, true)
    if not i then
      break
    end
    cut = i
    from = i + 1
  end
  if cut and message:find("^%s*%* method:", cut + 6) then
    return message:sub(1, cut - 1)
  end
  return message
end

-- new_error(call, status, code, message[, extra]): an error value.
local function new_error(call, status, code, message, extra)
  local e = {
    call = call,
    status = status,
    code = code,
    message = log.redact(M.strip_trailer(tostring(message or ""))),
    conflict = status == 409,
  }
  for k, v in pairs(extra or {}) do
    e[k] = v
  end
  return setmetatable(e, Error)
end
M.new_error = new_error

function M.is_error(v)
  return getmetatable(v) == Error
end

-- The error value for an answer that is not a success.
local function http_error(call, res)
  local body = res.body and res.body ~= "" and json.decode(res.body) or nil
  local code, message, extra
  if type(body) == "table" then
    code, message = body.code, body.message
    if res.status == 424 and body.reason then
      -- An error artifact: {reason, message}, not the usual error shape.
      code = "ErrorArtifact"
      message = string.format("%s: %s", tostring(body.reason), tostring(body.message))
      extra = { reason = body.reason }
    end
  end
  if type(code) ~= "string" then
    code = "HTTP" .. res.status
  end
  if type(message) ~= "string" then
    message = res.body or ""
  end
  return new_error(call, res.status, code, message, extra)
end

-- ---- URLs -------------------------------------------------------------

-- encodeURIComponent: everything but A-Z a-z 0-9 - _ . ! ~ * ' ( ) is %XX.
-- Numbers with an integer value print without a fraction (runId 0, not 0.0).
function M.encode_component(v)
  if math.type(v) == "float" and v == math.floor(v) then
    v = string.format("%d", v)
  end
  return (tostring(v):gsub("[^%w%-_%.!~%*'%(%)]", function(c)
    return string.format("%%%02X", c:byte())
  end))
end

-- "https://tc.example.com/" -> "https://tc.example.com"; a path prefix
-- ("http://host/tc") is kept.
function M.normalize_root_url(root_url)
  return (root_url:gsub("/+$", ""))
end

-- <rootUrl>/api/<service>/v1<path>
function M.api_url(root_url, service, path)
  return string.format("%s/api/%s/v1/%s", M.normalize_root_url(root_url), service, (path:gsub("^/+", "")))
end

-- ---- the client -------------------------------------------------------

local Client = {}
Client.__index = Client
Client.__name = "sw.Queue"
M.Client = Client

local function check_opt(cond, msg)
  if not cond then
    error("queue.new: " .. msg, 3)
  end
end

-- opts: root_url (required), credentials ({clientId, accessToken[,
-- certificate]}, or a function returning them, called before every
-- attempt; nil for anonymous calls), authorized_scopes (list), retries
-- (retries after the first attempt, default 5), timeout (seconds per
-- attempt, default 30), claim_timeout (claimWork, default 45), backoff_base
-- (seconds, default 0.1), max_backoff (default 30), transfer_timeout
-- (artifact uploads and downloads, default 1200).
function M.new(opts)
  check_opt(type(opts) == "table", "options must be a table")
  check_opt(type(opts.root_url) == "string" and opts.root_url:match("^https?://[^/]"),
    "root_url must be an http(s) URL")
  local c = opts.credentials
  check_opt(c == nil or type(c) == "table" or type(c) == "function",
    "credentials must be a table, a function or nil")
  check_opt(opts.authorized_scopes == nil or type(opts.authorized_scopes) == "table",
    "authorized_scopes must be a list of scopes")
  local function number(name, default, min)
    local v = opts[name]
    if v == nil then
      return default
    end
    check_opt(type(v) == "number" and v >= min, name .. " must be a number >= " .. min)
    return v
  end
  local self = setmetatable({}, Client)
  self.root_url = M.normalize_root_url(opts.root_url)
  self.credentials = secrets.add_temporary(c)
  self.authorized_scopes = opts.authorized_scopes
  self.retries = math.floor(number("retries", 5, 0))
  self.timeout = number("timeout", 30, 0.001)
  self.claim_timeout = number("claim_timeout", 45, 0.001)
  self.transfer_timeout = number("transfer_timeout", 1200, 0.001)
  self.backoff_base = number("backoff_base", 0.1, 0)
  self.max_backoff = number("max_backoff", 30, 0)
  return self
end

-- A client with the same settings and other credentials (a table, a
-- function, or nil). seen: a sw.secrets list (a task's) that records the
-- credentials its answers hand out, so that they are forgotten with it;
-- without, the client's own list, if any, is kept.
function Client:with_credentials(credentials, seen)
  local c = setmetatable({}, Client)
  for k, v in pairs(self) do
    c[k] = v
  end
  c.credentials = secrets.add_temporary(credentials)
  c.seen = seen or self.seen
  return c
end

-- The credentials the next request signs with (nil: anonymous).
function Client:current_credentials()
  local c = self.credentials
  if type(c) == "function" then
    c = c()
  end
  if c ~= nil and (type(c) ~= "table" or type(c.clientId) ~= "string" or type(c.accessToken) ~= "string") then
    error("queue: credentials must have string clientId and accessToken", 3)
  end
  return secrets.add_temporary(c)
end

-- Registers credentials an answer holds, in the client's list if any.
local function note_credentials(client, creds)
  if client.seen then
    secrets.add(creds, client.seen)
  else
    secrets.add_temporary(creds)
  end
end

function Client:url(service, path)
  return M.api_url(self.root_url, service, path)
end

-- Splits call arguments: route parameters, then the payload (calls with a
-- body), then the query (calls with query parameters). Returns url, body
-- (JSON text or nil), api entry.
function Client:build(name, ...)
  local api = API[name]
  if not api then
    error("queue: unknown API method " .. tostring(name), 3)
  end
  local service, route, has_body, query_names = api[2], api[3], api[4], api[5]
  local args = table.pack(...)
  local i = 0
  local path = route:gsub("<(%w+)>", function(param)
    i = i + 1
    local v = args[i]
    if type(v) ~= "string" and type(v) ~= "number" then
      error(string.format("queue:%s: parameter %s must be a string or number, got %s", name, param, type(v)), 4)
    end
    return M.encode_component(v)
  end)
  local body
  if has_body then
    i = i + 1
    local payload = args[i]
    if payload == nil then
      payload = json.object({})
    end
    local text, err = json.encode(payload)
    if not text then
      error(string.format("queue:%s: payload cannot be encoded: %s", name, err), 3)
    end
    body = text
  end
  if query_names then
    i = i + 1
    local q = args[i]
    if q ~= nil then
      if type(q) ~= "table" then
        error(string.format("queue:%s: query must be a table", name), 3)
      end
      local known = {}
      for _, k in ipairs(query_names) do
        known[k] = true
      end
      for k in pairs(q) do
        if not known[k] then
          error(string.format("queue:%s: unknown query parameter %s", name, tostring(k)), 3)
        end
      end
      local parts = {}
      for _, k in ipairs(query_names) do
        if q[k] ~= nil and q[k] ~= json.null then
          parts[#parts + 1] = k .. "=" .. M.encode_component(q[k])
        end
      end
      if #parts > 0 then
        path = path .. "?" .. table.concat(parts, "&")
      end
    end
  end
  if args.n > i then
    error(string.format("queue:%s: %d arguments given, at most %d expected", name, args.n, i), 3)
  end
  return self:url(service, path), body, api
end

-- The URL of a call (route parameters percent-encoded one by one, query
-- appended), as taskcluster-client's buildUrl.
function Client:build_url(name, ...)
  return (self:build(name, ...))
end

-- url with a bewit for GETs without an Authorization header (private
-- artifacts by URL), valid for ttl seconds (default 900).
function Client:signed_url(url, ttl)
  local creds = self:current_credentials()
  if not creds then
    return url
  end
  return hawk.signed_url({
    credentials = creds, url = url, ttl = ttl, authorized_scopes = self.authorized_scopes,
  })
end

-- Sleep before retry n (1, 2, ...): min(2^n * base * U, max), U uniform in
-- [0.75, 1.25] (taskcluster-client's policy).
function Client:backoff(n)
  local u = 0.75 + math.random() * 0.5
  return math.min(2 ^ n * self.backoff_base * u, self.max_backoff)
end

-- One HTTP exchange with Hawk (unless req.auth == false) and retries.
-- req = {method, url, body | body_file, headers, to_file, timeout, auth,
-- decompress, max_body}. Returns the response (any status below 500, with
-- `attempts`, the number of requests made) or nil, err, err.code (the last
-- failure once the retries are spent, or at once for a failure not worth
-- retrying; err.attempts counts the requests).
function Client:request(call, req)
  local attempts = self.retries + 1
  return retry.run({
    attempts = attempts,
    delay = function(n)
      return self:backoff(n)
    end,
    on_retry = function(n, err, delay)
      log.warn("queue call failed, retrying", {
        call = call, attempt = n, of = attempts, delay = string.format("%.3f", delay), error = tostring(err),
      })
    end,
  }, function(attempt)
    local headers = {}
    for k, v in pairs(req.headers or {}) do
      headers[k] = v
    end
    if req.auth ~= false then
      local creds = self:current_credentials()
      if creds then
        local auth, aerr = hawk.header({
          credentials = creds,
          method = req.method,
          url = req.url,
          authorized_scopes = self.authorized_scopes,
        })
        if not auth then
          return nil, new_error(call, nil, "hawk", aerr, { attempts = attempt }), "hawk"
        end
        headers["Authorization"] = auth
      end
    end
    local res, msg, code = http.request({
      method = req.method,
      url = req.url,
      headers = headers,
      body = req.body,
      body_file = req.body_file,
      to_file = req.to_file,
      timeout = req.timeout or self.timeout,
      decompress = req.decompress,
      max_body = req.max_body,
    })
    if res and res.status < 500 then
      if log.enabled("debug") then
        log.debug("queue call", { call = call, method = req.method, url = http.redact_url(req.url), status = res.status,
          attempt = attempt })
      end
      res.attempts = attempt
      return res
    end
    -- A 5xx answer, or a transport failure: retried when transient.
    local err = res and http_error(call, res) or new_error(call, nil, code, msg)
    err.attempts = attempt
    return nil, err, err.code, res ~= nil or M.RETRY_CODES[code] == true
  end)
end

-- Queue answers carry task definitions, which the Queue accepts at any
-- depth and with lone surrogates (JavaScript strings may hold them). A
-- claimWork answer the worker could not decode would leave a claimed task
-- never run nor reported, each retry burning a whole claim: decode as deep
-- as sw.json allows, and replace a lone surrogate by U+FFFD as Node's
-- encoder does. What the worker cannot handle is then reported by sw.task
-- (malformed-payload).
M.DECODE_OPTIONS = { max_depth = 10000, replace_surrogates = true }

local function decode_answer(call, res)
  if res.status == 204 or res.body == nil or res.body == "" then
    return json.object({})
  end
  local v, msg = json.decode(res.body, M.DECODE_OPTIONS)
  if v == nil then
    return nil, new_error(call, res.status, "MalformedResponse", msg)
  end
  return v
end

-- q:call(name, route params..., [payload], [query]) -> answer | nil, err,
-- err.code
-- getArtifact and getLatestArtifact answer 303: the result is the body
-- ({storageType, url}) plus `location` (the Location header).
function Client:call(name, ...)
  local url, body, api = self:build(name, ...)
  local res, err, code = self:request(name, {
    method = api[1],
    url = url,
    body = body,
    headers = body and { ["Content-Type"] = "application/json" } or nil,
    timeout = name == "claimWork" and math.max(self.timeout, self.claim_timeout) or nil,
  })
  if not res then
    return nil, err, code
  end
  if res.status == 303 then
    local v = decode_answer(name, res)
    if type(v) ~= "table" then
      v = json.object({})
    end
    v.location = res.headers["location"]
    return v
  end
  if res.status >= 300 then
    err = http_error(name, res)
    err.attempts = res.attempts
    return nil, err, err.code
  end
  local v
  v, err = decode_answer(name, res)
  if v == nil then
    err.attempts = res.attempts
    return nil, err, err.code
  end
  -- Credentials handed out (claimWork, reclaimTask, object artifacts) are
  -- secrets from the moment they arrive; a task's client records them in
  -- its list, or every object artifact would stay in the redaction list.
  if type(v) == "table" then
    note_credentials(self, v.credentials)
    if type(v.tasks) == "table" then
      for _, t in ipairs(v.tasks) do
        if type(t) == "table" then
          note_credentials(self, t.credentials)
        end
      end
    end
  end
  return v
end

-- Every artifact of a run (or of the latest run when run_id is nil),
-- following continuationToken until the listing ends. opts.limit: page
-- size (the Queue's maximum, 1000, by default).
function Client:list_all_artifacts(task_id, run_id, opts)
  local all = json.array({})
  local token
  local limit = opts and opts.limit
  repeat
    local query = { continuationToken = token, limit = limit }
    local res, err
    if run_id ~= nil then
      res, err = self:call("listArtifacts", task_id, run_id, query)
    else
      res, err = self:call("listLatestArtifacts", task_id, query)
    end
    if not res then
      return nil, err, err.code
    end
    for _, a in ipairs(res.artifacts or {}) do
      all[#all + 1] = a
    end
    token = res.continuationToken
  until token == nil or token == json.null
  return all
end

-- Downloads an artifact's content to path (streamed, Content-Encoding
-- decoded), following the Queue's 303 to the storage URL. run_id nil means
-- the latest run. opts: timeout (default transfer_timeout), max_body.
-- Returns {path, bytes, content_type, storage_type, url} or nil, err (and
-- then nothing is left at path).
function Client:download_artifact(task_id, run_id, name, path, opts)
  opts = opts or {}
  local call = run_id ~= nil and "getArtifact" or "getLatestArtifact"
  local answer, err
  if run_id ~= nil then
    answer, err = self:call(call, task_id, run_id, name)
  else
    answer, err = self:call(call, task_id, name)
  end
  if not answer then
    return nil, err, err.code
  end
  local url = answer.location or answer.url
  if type(url) ~= "string" then
    return nil, new_error(call, nil, "MalformedResponse", "no redirect location for " .. name), "MalformedResponse"
  end
  -- The storage URL is presigned (or public): no Hawk header, and never
  -- credentials to another host.
  local res
  res, err = self:request(call, {
    method = "GET",
    url = url,
    to_file = path,
    auth = false,
    decompress = true,
    max_body = opts.max_body,
    timeout = opts.timeout or self.transfer_timeout,
  })
  if res and res.status ~= 200 then
    err = new_error(call, res.status, "HTTP" .. res.status, "download of " .. name .. " answered HTTP " .. res.status,
      { attempts = res.attempts })
    res = nil
  end
  if not res then
    os.remove(path)
    return nil, err, err.code
  end
  return {
    path = path,
    bytes = res.bytes,
    content_type = res.headers["content-type"],
    storage_type = answer.storageType,
    url = url,
  }
end

-- ---- uploads ----------------------------------------------------------

-- What an upload sends: a path (string) or bytes in memory ({body =
-- bytes}). Checks it and returns its size, or nil, err.
local function source_size(call, src)
  if type(src) == "table" then
    assert(type(src.body) == "string", "queue: an upload source table needs a string body")
    return #src.body
  end
  assert(type(src) == "string", "queue: an upload source is a path or {body = bytes}")
  local st, msg, code = fs.stat(src)
  if not st then
    return nil, new_error(call, nil, code, msg)
  end
  if st.type ~= "file" then
    return nil, new_error(call, nil, "file", src .. ": not a regular file")
  end
  return st.size
end

local function source_bytes(call, src)
  if type(src) == "table" then
    return src.body
  end
  local data, msg, code = fs.read_file(src)
  if not data then
    return nil, new_error(call, nil, code, msg)
  end
  return data
end

local function source_hash(call, src, alg)
  if type(src) == "table" then
    return hash.string(src.body, alg)
  end
  local d, msg, code = hash.file(src, alg)
  if not d then
    return nil, new_error(call, nil, code, msg)
  end
  return d
end

-- PUTs a file (path) or bytes ({body = bytes}) to a presigned URL (no
-- Hawk), retried like every call.
function Client:put_file(call, url, src, headers, timeout)
  local _, serr = source_size(call, src)
  if serr then
    return nil, serr, serr.code
  end
  local res, err = self:request(call, {
    method = "PUT",
    url = url,
    headers = headers,
    body_file = type(src) == "string" and src or nil,
    body = type(src) == "table" and src.body or nil,
    auth = false,
    timeout = timeout or self.transfer_timeout,
  })
  if not res then
    return nil, err, err.code
  end
  if res.status ~= 200 and res.status ~= 204 then
    err = http_error(call, res)
    err.attempts = res.attempts
    return nil, err, err.code
  end
  return true
end

-- The object service's upload of an "object" artifact (answer = the
-- createArtifact answer) from a path or {body = bytes}: createUpload with
-- the artifact's credentials (dataInline proposed for small data, putUrl
-- always), the PUT when putUrl was chosen, then finishUpload with sha256
-- and sha512. Returns true or nil, err.
function Client:upload_object(answer, src, content_type, opts)
  opts = opts or {}
  local size, err = source_size("createUpload", src)
  if not size then
    return nil, err, err.code
  end
  local object = self:with_credentials(answer.credentials)
  local methods = { putUrl = { contentType = content_type, contentLength = size } }
  if size < (opts.inline_limit or 8192) then
    local data
    data, err = source_bytes("createUpload", src)
    if not data then
      return nil, err, err.code
    end
    methods.dataInline = { contentType = content_type, objectData = sign.b64encode(data) }
  end
  -- opts.hashes: digests the caller already took of exactly these bytes
  -- (the worker's snapshot), so the file is not read twice more.
  local given = type(src) == "string" and opts.hashes or {}
  local hashes = {}
  for _, alg in ipairs({ "sha256", "sha512" }) do
    hashes[alg] = given[alg]
    if not hashes[alg] then
      hashes[alg], err = source_hash("finishUpload", src, alg)
      if not hashes[alg] then
        return nil, err, err.code
      end
    end
  end
  local upload
  upload, err = object:call("createUpload", answer.name, {
    projectId = answer.projectId,
    uploadId = answer.uploadId,
    expires = answer.expires,
    proposedUploadMethods = methods,
  })
  if not upload then
    return nil, err, err.code
  end
  local method = upload.uploadMethod or {}
  if type(method.putUrl) == "table" then
    local ok
    ok, err = self:put_file("createUpload", method.putUrl.url, src, method.putUrl.headers, opts.timeout)
    if not ok then
      return nil, err, err.code
    end
  elseif method.dataInline ~= true then
    return nil, new_error("createUpload", nil, "NoUploadMethod",
      "the object service accepted none of the proposed upload methods for " .. answer.name), "NoUploadMethod"
  end
  local done
  done, err = object:call("finishUpload", answer.name, {
    projectId = answer.projectId,
    uploadId = answer.uploadId,
    hashes = hashes,
  })
  if not done then
    return nil, err, err.code
  end
  return true
end

-- Creates an artifact and uploads its bytes completely. opts:
--   path | body      the file whose bytes are sent, or the bytes (one of
--                    the two is required)
--   storage_type     "s3" (default) or "object"
--   content_type     required (s3: sent byte for byte, it is signed)
--   content_encoding s3 only: the encoding of the bytes sent ("gzip"
--                    when the caller gzipped them); storage replays it
--   content_length   s3 only: the original (decoded) size, default the
--                    size sent
--   expires          required (RFC 3339)
--   inline_limit     object only: dataInline below this size (8192)
--   hashes           object only: {sha256, sha512} of the file at path,
--                    when the caller has them (else the file is hashed)
--   timeout          for the PUT (default transfer_timeout)
-- Returns {storage_type, name, bytes (sent)} or nil, err.
function Client:upload_artifact(task_id, run_id, name, opts)
  assert(type(opts) == "table", "queue:upload_artifact: opts must be a table")
  assert((type(opts.path) == "string") ~= (type(opts.body) == "string"),
    "queue:upload_artifact: give exactly one of opts.path and opts.body")
  assert(type(opts.content_type) == "string", "queue:upload_artifact: opts.content_type is required")
  assert(type(opts.expires) == "string", "queue:upload_artifact: opts.expires is required")
  local storage = opts.storage_type or "s3"
  assert(storage == "s3" or storage == "object", "queue:upload_artifact: storage_type must be s3 or object")
  assert(storage == "s3" or opts.content_encoding == nil,
    "queue:upload_artifact: content_encoding is for s3 artifacts only")
  local src = opts.path or { body = opts.body }
  local size, err = source_size("createArtifact", src)
  if not size then
    return nil, err, err.code
  end
  local answer
  answer, err = self:call("createArtifact", task_id, run_id, name, {
    storageType = storage,
    expires = opts.expires,
    contentType = opts.content_type,
    contentLength = storage == "s3" and (opts.content_length or size) or size,
  })
  if not answer then
    return nil, err, err.code
  end
  if storage == "s3" then
    local headers = { ["Content-Type"] = opts.content_type }
    if opts.content_encoding then
      headers["Content-Encoding"] = opts.content_encoding
    end
    local ok
    ok, err = self:put_file("createArtifact", answer.putUrl, src, headers, opts.timeout)
    if not ok then
      return nil, err, err.code
    end
  else
    local ok
    ok, err = self:upload_object(answer, src, opts.content_type, opts)
    if not ok then
      return nil, err, err.code
    end
    ok, err = self:call("finishArtifact", task_id, run_id, name, { uploadId = answer.uploadId })
    if not ok then
      return nil, err, err.code
    end
  end
  return { storage_type = storage, name = name, bytes = size }
end

return M
