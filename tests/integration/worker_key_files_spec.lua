-- The worker binary and the files holding its secrets (docs/worker.md
-- "Security"): a private key that is a FIFO used to hang start-up; it is
-- now refused like anything but a regular file. A key, a config holding
-- credentials or a secrets.json readable by others is accepted with a
-- warning (deployments mount them 0644).
local fs = require("sw.fs")
local json = require("sw.json")
local worker_env = require("integration.fixtures.worker_env")
local support_queue = worker_env.support_queue

local function copy(from, to, mode)
  local data = assert(fs.read_file(from))
  local f = assert(io.open(to, "wb"))
  assert(f:write(data))
  assert(f:close())
  assert(fs.chmod(to, mode))
end

describe("worker: key and credential files", function()
  local fx, env

  setup(function()
    fx = support_queue.start({ poll_seconds = 1 })
    env = worker_env.new(fx, "keyfiles")
  end)

  teardown(function()
    worker_env.finish(fx, env)
  end)

  it("a private key that is a FIFO: refused at once, exit 2", function()
    local fifo = env.dir .. "/key.fifo"
    assert.is_true(os.execute("mkfifo '" .. fifo .. "'") == true)
    local w = env:start_worker({ worker_id = "fifo", config = { ed25519_private_key_path = fifo } })
    assert.are.same({ code = 2 }, w:wait(15))
    assert.truthy(w:log():find("ed25519_private_key_path: private key " .. fifo .. ": not a regular file", 1, true)
      or w:log():find(fifo .. ": not a regular file", 1, true), w:log())
  end)

  it("a directory as the private key: refused, exit 2", function()
    local w = env:start_worker({ worker_id = "dir", config = { ed25519_private_key_path = env.dir } })
    assert.are.same({ code = 2 }, w:wait(15))
    assert.truthy(w:log():find(env.dir .. ": not a regular file", 1, true), w:log())
  end)

  it("a key and a config with credentials readable by others: warnings, and the worker runs", function()
    local key = env.dir .. "/key-0644"
    copy(env.private_key, key, tonumber("644", 8))
    local path = env:write_config("open", env:config("open", { ed25519_private_key_path = key }))
    assert(fs.chmod(path, tonumber("644", 8)))
    local w = env:start_worker({ worker_id = "open", config_path = path })
    local id = env:create_task({ exit = 0 })
    assert.are.equal("completed", env:wait_resolved(id).state)
    assert.are.same({ code = 0 }, w:stop())
    local log = w:log()
    assert.truthy(log:find("WARN the private key (ed25519_private_key_path) is readable by every user of this host: "
      .. "make it unreadable to others mode=0644 path=" .. key .. "\n", 1, true), log)
    assert.truthy(log:find("WARN the file with the worker's credentials is readable by every user of this host: "
      .. "make it unreadable to others mode=0644 path=" .. path .. "\n", 1, true), log)
  end)

  it("a secrets.json readable by others: a warning naming it", function()
    local dir = env.dir .. "/cwd"
    assert(fs.mkdirp(dir))
    local f = assert(io.open(dir .. "/secrets.json", "wb"))
    local text = assert(json.encode({ credentials = { clientId = env.credentials.clientId,
      accessToken = env.credentials.accessToken } }))
    assert(f:write(text))
    assert(f:close())
    assert(fs.chmod(dir .. "/secrets.json", tonumber("604", 8)))
    local w = env:start_worker({ worker_id = "secrets", cwd = dir, config = { credentials = json.null } })
    assert(w:wait_log("call=claimWork"), w:log())
    assert.are.same({ code = 0 }, w:stop())
    assert.truthy(w:log():find("WARN the file with the worker's credentials is readable by every user of this host: "
      .. "make it unreadable to others mode=0604 path=" .. fs.realpath(dir) .. "/secrets.json\n", 1, true), w:log())
  end)

  it("files only the worker can read: no warning", function()
    local w = env:start_worker({ worker_id = "closed" })
    assert(w:wait_log("call=claimWork"), w:log())
    assert.are.same({ code = 0 }, w:stop())
    assert.is_nil(w:log():find("readable by every user", 1, true))
  end)
end)
