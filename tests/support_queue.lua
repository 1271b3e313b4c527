-- The local Queue emulator (tests/queue/server.js, docs/queue.md) as a
-- fixture for Lua integration tests: start it with the clients, options and
-- faults a spec needs, drive its admin API, make clients of sw.queue for it,
-- and stop it.
--
--   local support_queue = require("support_queue")
--   local fx
--   setup(function() fx = support_queue.start({ poll_seconds = 1 }) end)
--   teardown(function() fx:stop() end)
--
--   it("claims", async(function()
--     local task_queue = fx:unique_queue()
--     local task_id = fx:create_task({ taskQueueId = task_queue })
--     local q = fx:client("worker")
--     local res = assert(q:call("claimWork", task_queue, {...}))
--   end))
--
-- Every function works both inside a scheduler task and outside one (in
-- busted's setup/teardown under stock Lua): the HTTP and process calls run
-- through sched.run, which simply calls its function inside a task.
--
-- The server's stdout and stderr go to files in a temporary directory (not
-- to pipes, which nobody would drain between two specs); fx:server_log()
-- reads stderr. The admin token is random and handed over in the
-- environment, so it never shows in `ps`.
local fs = require("sw.fs")
local http = require("sw.http")
local json = require("sw.json")
local proc = require("sw.proc")
local sched = require("sw.sched")
local sign = require("sw.sign")
local slugid = require("sw.slugid")
local queue = require("sw.queue")
local support = require("support")

local M = {}

M.SERVER = support.root .. "/tests/queue/server.js"

-- The clients every fixture knows, by name. `worker` has exactly what a
-- worker of proj-releng/* in worker group wg-1 needs; `nobody` has no scope
-- at all; `retired` expired long ago.
M.CLIENTS = {
  tester = { clientId = "tester", accessToken = "tester-secret-token", scopes = { "*" } },
  worker = {
    clientId = "worker",
    accessToken = "worker-secret-token",
    scopes = { "queue:claim-work:proj-releng/*", "queue:worker-id:wg-1/*" },
  },
  nobody = { clientId = "nobody", accessToken = "nobody-secret-token", scopes = {} },
  retired = {
    clientId = "retired",
    accessToken = "retired-secret-token",
    scopes = { "*" },
    expires = "2000-01-01T00:00:00.000Z",
  },
}

local Fixture = {}
Fixture.__index = Fixture
Fixture.__name = "support_queue.Fixture"

local function run(fn, ...)
  return sched.run(fn, ...)
end

local function write(path, data)
  local f = assert(io.open(path, "wb"))
  assert(f:write(data))
  assert(f:close())
end

local function read_or_empty(path)
  local f = io.open(path, "rb")
  if not f then
    return ""
  end
  local s = f:read("a")
  f:close()
  return s
end

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- The pid of this process (stock lua5.4 or the scriptworker binary).
function M.own_pid()
  return assert(tonumber(read_or_empty("/proc/self/stat"):match("^(%d+)")), "support_queue: no /proc/self/stat")
end

-- An RFC 3339 UTC timestamp `seconds` from now (negative: in the past),
-- in JavaScript's toJSON() form.
function M.from_now(seconds)
  local t = sched.now() + (seconds or 0)
  local whole = math.floor(t)
  return os.date("!%Y-%m-%dT%H:%M:%S", whole) .. string.format(".%03dZ", math.floor((t - whole) * 1000))
end

-- Starts an emulator and waits until it listens. opts (all optional):
--   clients          extra or replacing clients: a list of
--                    {clientId, accessToken, scopes[, expires, disabled]};
--                    merged over M.CLIENTS by clientId
--   roles            {roleId = {scopes}}
--   faults           a fault configuration ({seed, rules}), see docs/queue.md
--   claim_seconds    claim timeout (default 60)
--   poll_seconds     claimWork long-poll (default 1)
--   cert_skew_seconds  how long temporary credentials outlive their expiry
--                    (default: the emulator's, 300 as the Auth service)
--   anonymous_scopes scopes of role "anonymous"
--   args             more command-line arguments (a list of strings)
--   strict           pass --strict (default true: exit 3 on a response
--                    that failed its schema)
--   verbose          one stderr line per request (also SW_QUEUE_VERBOSE=1)
--   startup_timeout  seconds to wait for the rootUrl (default 30)
-- Returns the fixture; raises with the server's stderr if it cannot start.
function M.start(opts)
  opts = opts or {}
  local self = setmetatable({}, Fixture)
  self.dir = support.tmpdir()
  self.admin_token = "admin-" .. slugid.nice()
  self.stdout_path = self.dir .. "/stdout"
  self.stderr_path = self.dir .. "/stderr"
  self.clients = {}
  local by_id = {}
  local list = {}
  for name, c in pairs(M.CLIENTS) do
    self.clients[name] = c
    by_id[c.clientId] = name
  end
  for _, c in ipairs(opts.clients or {}) do
    self.clients[by_id[c.clientId] or c.clientId] = c
  end
  local names = {}
  for name in pairs(self.clients) do
    names[#names + 1] = name
  end
  table.sort(names)
  for _, name in ipairs(names) do
    local c = self.clients[name]
    list[#list + 1] = {
      clientId = c.clientId,
      accessToken = c.accessToken,
      scopes = json.array(c.scopes),
      expires = c.expires,
      disabled = c.disabled,
    }
  end
  write(self.dir .. "/clients.json", assert(json.encode({ clients = list, roles = json.object(opts.roles or {}) })))
  local argv = {
    "node", M.SERVER, "--port", "0", "--clients", self.dir .. "/clients.json",
    "--claim-seconds", tostring(opts.claim_seconds or 60),
    "--poll-seconds", tostring(opts.poll_seconds or 1),
    "--cert-skew-seconds", tostring(opts.cert_skew_seconds or 300),
    -- support.shared follows SW_SHARED, so a checkout not beside shared/
    -- (a git worktree) still finds the API references.
    "--references", support.shared .. "/taskcluster/references.json",
  }
  -- The emulator finds the references beside the main checkout; from a
  -- worktree elsewhere, it is told where the shared folder is.
  local refs = support.shared .. "/taskcluster/references.json"
  if fs.exists(refs) then
    argv[#argv + 1] = "--references"
    argv[#argv + 1] = refs
  end
  if opts.faults then
    write(self.dir .. "/faults.json", assert(json.encode(opts.faults)))
    argv[#argv + 1] = "--faults"
    argv[#argv + 1] = self.dir .. "/faults.json"
  end
  if opts.anonymous_scopes then
    argv[#argv + 1] = "--anonymous-scopes"
    argv[#argv + 1] = assert(json.encode(json.array(opts.anonymous_scopes)))
  end
  if opts.strict ~= false then
    argv[#argv + 1] = "--strict"
  end
  if opts.verbose or os.getenv("SW_QUEUE_VERBOSE") == "1" then
    argv[#argv + 1] = "--verbose"
  end
  for _, a in ipairs(opts.args or {}) do
    argv[#argv + 1] = a
  end
  local quoted = {}
  for i, a in ipairs(argv) do
    quoted[i] = shell_quote(a)
  end
  -- sh runs node in the background and waits for it, exiting with its
  -- status. A watcher stops node if this Lua process dies without calling
  -- stop() (a killed test run), so no emulator outlives its spec. The
  -- SIGTERM that stop() sends to the process group is node's business:
  -- the shell ignores it once the watcher is started.
  local script = table.concat({
    string.format("%s >%s 2>%s </dev/null &", table.concat(quoted, " "), shell_quote(self.stdout_path),
      shell_quote(self.stderr_path)),
    "child=$!",
    string.format("(while kill -0 %d 2>/dev/null; do sleep 1; done; kill -TERM $child) "
      .. "</dev/null >/dev/null 2>&1 &", M.own_pid()),
    "watcher=$!",
    "trap '' TERM INT",
    "wait $child",
    "rc=$?",
    "kill $watcher 2>/dev/null",
    "exit $rc",
  }, "\n")
  run(function()
    self.process = assert(proc.spawn({
      argv = { "/bin/sh", "-c", script },
      inherit_env = true,
      env = { QUEUE_EMULATOR_ADMIN_TOKEN = self.admin_token },
      cwd = support.root,
    }))
    local deadline = sched.monotonic() + (opts.startup_timeout or 30)
    while true do
      local line = read_or_empty(self.stdout_path):match("^([^\n]*)\n")
      if line then
        self.root_url = line
        break
      end
      if self.process:status() ~= "running" or sched.monotonic() > deadline then
        local st = self.process:status() == "running" and self.process:stop(1) or self.process:wait()
        error(string.format("support_queue: the emulator did not start (exit %s):\n%s", tostring(st.code),
          read_or_empty(self.stderr_path)), 0)
      end
      sched.sleep(0.02)
    end
  end)
  return self
end

-- The server's stderr so far (its log lines, schema failure details).
function Fixture:server_log()
  return read_or_empty(self.stderr_path)
end

-- One admin API call: method, path under /__admin/ (e.g. "tasks"), optional
-- JSON body. Returns the decoded answer (or the raw body for non-JSON
-- answers) and the response, or nil, message.
function Fixture:admin(method, path, body)
  return run(function()
    local res, msg = http.request({
      method = method,
      url = self.root_url .. "/__admin/" .. path,
      headers = {
        authorization = "Bearer " .. self.admin_token,
        ["content-type"] = body ~= nil and "application/json" or nil,
      },
      body = body ~= nil and assert(json.encode(body)) or nil,
      timeout = 30,
    })
    if not res then
      return nil, msg
    end
    local ctype = res.headers["content-type"] or ""
    local value = res.body
    if ctype:find("application/json", 1, true) then
      value = json.decode(res.body)
    end
    if res.status ~= 200 then
      local why = type(value) == "table" and value.error or res.body
      return nil, string.format("admin %s %s: HTTP %d: %s", method, path, res.status, tostring(why))
    end
    return value, res
  end)
end

-- Like admin() but raises on failure.
function Fixture:must(method, path, body)
  local v, err = self:admin(method, path, body)
  if v == nil then
    error(err, 2)
  end
  return v
end

-- A taskQueueId of its own for each call, so specs never claim each
-- other's tasks: "proj-releng/q<N>[-<suffix>]".
function Fixture:unique_queue(suffix)
  self.queue_counter = (self.queue_counter or 0) + 1
  return string.format("proj-releng/q%d%s", self.queue_counter, suffix and ("-" .. suffix) or "")
end

-- A complete task definition (for createTask through a client): the
-- emulator's defaults plus `overrides` (shallow).
function Fixture.task_def(_, overrides)
  local def = {
    taskQueueId = "proj-releng/linux-signing",
    created = M.from_now(0),
    deadline = M.from_now(86400),
    payload = json.object({}),
    metadata = {
      name = "support_queue task",
      description = "a task of the Lua integration tests",
      owner = "releng@example.com",
      source = "https://github.com/mozilla-releng/scriptworker",
    },
  }
  for k, v in pairs(overrides or {}) do
    def[k] = v
  end
  return def
end

-- Creates a task through the admin API (no Hawk, no scopes; the emulator
-- fills in created, deadline, payload and metadata). Returns taskId, status.
function Fixture:create_task(def, task_id)
  local path = "tasks" .. (task_id and ("/" .. task_id) or "")
  local r = self:must("POST", path, def or json.object({}))
  return r.taskId, r.status
end

-- {task, status, artifacts = {per run: {{storageType, name, present, ...}}}}
function Fixture:task_info(task_id)
  return self:must("GET", "tasks/" .. task_id)
end

-- Cancels a task without scopes; returns its status.
function Fixture:cancel(task_id)
  return self:must("POST", "tasks/" .. task_id .. "/cancel").status
end

-- Replaces the fault configuration ({seed, rules}); nil clears it.
function Fixture:set_faults(cfg)
  if cfg == nil then
    return self:must("DELETE", "faults")
  end
  return self:must("POST", "faults", cfg)
end

-- Moves the emulator's clock forward by ms (then applies claim expiry and
-- deadlines); returns {now, offsetMs}.
function Fixture:advance_clock(ms)
  return self:must("POST", "time", { advanceMs = ms })
end

-- Sets the clock's offset from real time (0: real time again).
function Fixture:set_clock_offset(ms)
  return self:must("POST", "time", { offsetMs = ms })
end

function Fixture:tick()
  return self:must("POST", "tick")
end

-- {requests, responses, faults, requestSchemaFailures,
--  responseSchemaFailures, responseSchemaFailureDetails, internalErrors, tasks}
function Fixture:stats()
  return self:must("GET", "stats")
end

-- Adds (or replaces) a client; also known to fixture:client(name) after.
function Fixture:add_client(c)
  self:must("POST", "clients", {
    clientId = c.clientId,
    accessToken = c.accessToken,
    scopes = json.array(c.scopes),
    expires = c.expires,
    disabled = c.disabled,
  })
  self.clients[c.clientId] = c
  return c
end

-- The stored bytes of an artifact as uploaded (still encoded), and the
-- response (headers content-type, content-encoding).
function Fixture:artifact_bytes(task_id, run_id, name)
  local parts = {}
  for seg in name:gmatch("[^/]+") do
    parts[#parts + 1] = queue.encode_component(seg)
  end
  local url_path = string.format("artifacts/%s/%d/%s", task_id, run_id, table.concat(parts, "/"))
  -- Not through admin(): the bytes are never decoded, whatever their type.
  return run(function()
    local res, msg = http.request({
      url = self.root_url .. "/__admin/" .. url_path,
      headers = { authorization = "Bearer " .. self.admin_token },
      timeout = 60,
    })
    if not res then
      return nil, msg
    end
    if res.status ~= 200 then
      local value = json.decode(res.body)
      local why = type(value) == "table" and value.error or res.body
      return nil, string.format("admin GET %s: HTTP %d: %s", url_path, res.status, tostring(why))
    end
    return res.body, res
  end)
end

-- An admin call with a raw body (seeded artifacts, mirror entries):
-- `url_path` below /__admin/, extra request headers. Returns the decoded
-- answer, or nil, message.
function Fixture:admin_raw(method, url_path, body, headers)
  return run(function()
    local h = { authorization = "Bearer " .. self.admin_token }
    for k, v in pairs(headers or {}) do
      h[k] = v
    end
    local res, msg = http.request({
      method = method,
      url = self.root_url .. "/__admin/" .. url_path,
      headers = h,
      body = body,
      timeout = 60,
    })
    if not res then
      return nil, msg
    end
    local value = json.decode(res.body)
    if res.status ~= 200 then
      local why = type(value) == "table" and value.error or res.body
      return nil, string.format("admin %s %s: HTTP %d: %s", method, url_path, res.status, tostring(why))
    end
    return value
  end)
end

local function must(v, err)
  if v == nil then
    error(err, 3)
  end
  return v
end

-- Resolves the latest run of a task as if a worker had claimed and reported
-- it (a task without runs gets run 0). opts: state ("completed" default,
-- "failed", "exception"), reason (for exception), workerGroup, workerId.
-- Returns the task status.
function Fixture:complete_task(task_id, opts)
  return self:must("POST", "tasks/" .. task_id .. "/complete", opts or json.object({})).status
end

-- Stores `bytes` as a present s3 artifact on run `run_id`, whatever the
-- run's state, served like an uploaded one. opts: content_type (default
-- application/octet-stream), content_encoding (the bytes are stored as
-- given and replayed with it, e.g. "gzip"), expires (RFC 3339; default the
-- task's expires). Returns {storageType, name}.
function Fixture:put_artifact(task_id, run_id, name, bytes, opts)
  opts = opts or {}
  local parts = {}
  for seg in name:gmatch("[^/]+") do
    parts[#parts + 1] = queue.encode_component(seg)
  end
  local url_path = string.format("artifacts/%s/%d/%s", task_id, run_id, table.concat(parts, "/"))
  if opts.expires then
    url_path = url_path .. "?expires=" .. queue.encode_component(opts.expires)
  end
  return must(self:admin_raw("PUT", url_path, bytes, {
    ["content-type"] = opts.content_type or "application/octet-stream",
    ["content-encoding"] = opts.content_encoding,
  }))
end

-- Stores a mirror entry: GET <mirror_url()><path> then answers `bytes`.
-- `path` starts with "/" and may carry a query string, matched exactly
-- ("/hg/mozilla-central/json-pushes?changeset=abc&version=2"). opts:
-- content_type (default application/octet-stream), status (default 200).
function Fixture:put_mirror(path, bytes, opts)
  opts = opts or {}
  assert(path:sub(1, 1) == "/", "support_queue: put_mirror: path must start with /, got " .. path)
  return must(self:admin_raw("PUT", "mirror" .. path, bytes, {
    ["content-type"] = opts.content_type or "application/octet-stream",
    ["x-mirror-status"] = opts.status and tostring(opts.status) or nil,
  }))
end

-- Removes every mirror entry; returns how many there were.
function Fixture:clear_mirror()
  return self:must("DELETE", "mirror").removed
end

-- The root of the mirror: hg/GitHub URLs of a test map below it.
function Fixture:mirror_url()
  return self.root_url .. "/__mirror"
end

-- Requests the emulator saw after sequence number `since` (default 0):
-- {last, requests = {{seq, method, url, key, status}, ...}}.
function Fixture:requests(since)
  return self:must("GET", "requests?since=" .. tostring(since or 0))
end

-- Makes the emulator refuse connections for `ms` milliseconds (it answers
-- first, then closes its port and every open connection, then listens on
-- the same port again).
function Fixture:refuse(ms)
  return self:must("POST", "refuse", { ms = ms })
end

-- A sw.queue client for this emulator. `who` is a client name of
-- fixture.clients, a credentials table ({clientId, accessToken[,
-- certificate]}), a function returning credentials, or nil (anonymous).
-- opts are passed to queue.new (defaults here: retries 2, backoff_base
-- 0.001 s, timeout 30 s, transfer_timeout 60 s, so that a stuck request
-- fails a spec instead of hanging it).
function Fixture:client(who, opts)
  local creds = who
  if type(who) == "string" then
    local c = assert(self.clients[who], "support_queue: no client named " .. who)
    creds = { clientId = c.clientId, accessToken = c.accessToken }
  end
  local o = {
    root_url = self.root_url, credentials = creds, retries = 2, backoff_base = 0.001, timeout = 30,
    transfer_timeout = 60,
  }
  for k, v in pairs(opts or {}) do
    o[k] = v
  end
  return queue.new(o)
end

-- Creates a task on a queue of its own and claims it as wg-1/wid-1 with
-- the `worker` client. Returns {task_id, task_queue, claim (the claimWork
-- entry), credentials (a function returning the freshest task
-- credentials), worker (a client using them), set_credentials(c)}.
function Fixture:create_and_claim(def)
  def = def or {}
  local task_queue = def.taskQueueId or self:unique_queue()
  def.taskQueueId = task_queue
  local task_id = self:create_task(def)
  local res = run(function()
    return assert(self:client("worker"):call("claimWork", task_queue, {
      workerGroup = "wg-1", workerId = "wid-1", tasks = 1,
    }))
  end)
  assert(#res.tasks == 1, "support_queue: claimWork returned " .. #res.tasks .. " tasks")
  local claim = res.tasks[1]
  assert(claim.status.taskId == task_id, "support_queue: claimed another task")
  local t = { task_id = task_id, task_queue = task_queue, claim = claim, current = claim.credentials }
  t.credentials = function()
    return t.current
  end
  t.set_credentials = function(c)
    t.current = c
  end
  t.worker = self:client(t.credentials)
  return t
end

-- Temporary credentials (PROTOCOL.md section 3) issued by the client named
-- `issuer` of this fixture: {scopes, start, expiry (ms), client_id (named
-- credentials)}.
function Fixture:temporary_credentials(issuer, o)
  local hawk = require("sw.hawk")
  local c = assert(self.clients[issuer], "support_queue: no client named " .. issuer)
  local seed = slugid.nice() .. slugid.nice()
  local cert = {
    version = 1,
    scopes = json.array(o.scopes),
    start = o.start,
    expiry = o.expiry,
    seed = seed,
  }
  if o.client_id then
    cert.issuer = c.clientId
  end
  cert.signature = hawk.certificate_signature(c.accessToken, cert, o.client_id)
  return {
    clientId = o.client_id or c.clientId,
    accessToken = hawk.temporary_access_token(c.accessToken, seed),
    certificate = assert(json.encode(cert)),
  }
end

-- Stops the server (SIGTERM, then SIGKILL after `grace` seconds, default
-- 10), removes its directory and returns its exit status ({code = 0} when
-- it stopped cleanly; 3 under strict mode when a response failed its
-- schema). Idempotent.
function Fixture:stop(grace)
  if self.stopped then
    return self.stopped
  end
  local st = run(function()
    local p = self.process
    if p:status() == "running" then
      p:kill("SIGTERM")
    end
    local s = p:wait(grace or 10)
    if not s then
      s = p:stop(0)
    end
    p:close()
    return s
  end)
  self.stopped = st
  self.final_log = self:server_log()
  os.execute("rm -rf " .. shell_quote(self.dir))
  return st
end

-- Random bytes, for upload payloads.
function M.random_bytes(n)
  return sign.random_bytes(n)
end

return M
