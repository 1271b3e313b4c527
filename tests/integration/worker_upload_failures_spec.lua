-- The worker binary against the local Queue when uploads fail
-- (docs/worker.md step 8, "Upload failures"): a failure no attempt can cure
-- (a name the Queue refuses, a file over the size limit, a 400 or 403) is
-- malformed-payload, which the Queue does not retry, and a name is checked
-- before anything is sent; any other failure is intermittent-task. Either
-- is an exception whatever the script's exit code, an unmapped one >= 8
-- included.
local worker_env = require("integration.fixtures.worker_env")
local support_queue = worker_env.support_queue

local LIMIT = 100000

describe("worker: upload failures", function()
  local fx, env, worker

  setup(function()
    fx = support_queue.start({ poll_seconds = 1, args = { "--max-artifact-bytes", tostring(LIMIT) } })
    env = worker_env.new(fx, "uploads")
    worker = env:start_worker()
  end)

  teardown(function()
    worker_env.finish(fx, env)
  end)

  local function requests_naming(since, fragment)
    local n = 0
    for _, r in ipairs(fx:requests(since).requests) do
      if r.url:find(fragment, 1, true) then
        n = n + 1
      end
    end
    return n
  end

  it("names the Queue refuses: checked before upload, malformed-payload, no retry", function()
    local since = fx:requests().last
    local id = env:create_task({ files = { ["public/ok.txt"] = "ok\n", ["public/a\nb.txt"] = "x\n",
      ["public/caf\195\169.txt"] = "y\n" } }, { retries = 5 })
    local st = env:wait_resolved(id)
    assert.are.same({ "exception", "malformed-payload", 1 }, { st.state, st.runs[1].reasonResolved, #st.runs })
    assert.are.equal("ok\n", assert(env:artifact(id, 0, "public/ok.txt")).body)
    -- no request ever named them (the URLs are as sent, percent-encoded)
    assert.are.equal(1, requests_naming(since, "public%2Fok.txt"))
    assert.are.equal(0, requests_naming(since, "public%2Fa%0Ab.txt"))
    assert.are.equal(0, requests_naming(since, "caf%C3%A9"))
    local n = 0
    for _ in worker:log():gmatch('artifact upload failed error="the Queue accepts only printable ASCII') do
      n = n + 1
    end
    assert.are.equal(2, n, worker:log())
    -- the newline in the name is escaped: one line, nothing forged
    assert.truthy(worker:log():find('in artifact names" name=public/a\\nb.txt retry="cannot succeed"\n', 1, true),
      worker:log())
  end)

  it("a file over the storage's size limit (400 EntityTooLarge): malformed-payload, no retry", function()
    local id = env:create_task({ random = { ["public/big.bin"] = { size = LIMIT + 1, seed = 1 } } }, { retries = 5 })
    local st = env:wait_resolved(id)
    assert.are.same({ "exception", "malformed-payload", 1 }, { st.state, st.runs[1].reasonResolved, #st.runs })
    assert.truthy(worker:log():find("EntityTooLarge", 1, true), worker:log())
  end)

  it("403 on createArtifact: malformed-payload", function()
    fx:set_faults({ seed = 1, rules = { createArtifact = { errorRate = 1, errorStatus = 403 } } })
    local id = env:create_task({ files = { ["public/a.txt"] = "a\n" } }, { retries = 5 })
    local st = env:wait_resolved(id)
    fx:set_faults(nil)
    assert.are.same({ "exception", "malformed-payload", 1 }, { st.state, st.runs[1].reasonResolved, #st.runs })
  end)

  local TRANSIENT = {
    { "429 on createArtifact", "createArtifact", 429 },
    { "401 on createArtifact", "createArtifact", 401 },
    { "500 on the PUT", "upload", 500 },
  }
  for _, c in ipairs(TRANSIENT) do
    it(c[1] .. ": intermittent-task", function()
      fx:set_faults({ seed = 1, rules = { [c[2]] = { errorRate = 1, errorStatus = c[3] } } })
      local id = env:create_task({ files = { ["public/a.txt"] = "a\n" } }, { retries = 0 })
      local st = env:wait_resolved(id)
      fx:set_faults(nil)
      assert.are.same({ "exception", "intermittent-task" }, { st.state, st.runs[1].reasonResolved })
    end)
  end

  for _, code in ipairs({ 1, 9, 200 }) do
    it("exit code " .. code .. " with a failed upload is an exception, never failed", function()
      fx:set_faults({ seed = 1, rules = { upload = { errorRate = 1, errorStatus = 503 } } })
      local id = env:create_task({ files = { ["public/a.txt"] = "a\n" }, exit = code }, { retries = 0 })
      local st = env:wait_resolved(id)
      fx:set_faults(nil)
      assert.are.same({ "exception", "intermittent-task" }, { st.state, st.runs[1].reasonResolved })
    end)
  end

  it("keeps running", function()
    assert.are.same({ code = 0 }, worker:stop())
  end)
end)
