-- The worker binary against its own task script (issue 10, critical and
-- high): everything a script leaves in work_dir and artifact_dir is
-- hostile. Each case is a script that attacks the worker through links,
-- races or processes that outlive it; docs/worker.md ("Security") says
-- what the worker does about each.
local fs = require("sw.fs")
local json = require("sw.json")
local worker_env = require("integration.fixtures.worker_env")
local support_queue = worker_env.support_queue

local PRECIOUS = "precious bytes the worker must never overwrite\n"

describe("worker security: links in work_dir", function()
  local fx, env, worker

  setup(function()
    -- 4-second claims: the worker reclaims every 2 seconds.
    fx = support_queue.start({ poll_seconds = 1, claim_seconds = 4 })
    env = worker_env.new(fx, "sec-links")
    worker = env:start_worker()
  end)

  teardown(function()
    worker_env.finish(fx, env)
  end)

  it("rewrites the credentials file through its descriptor, never through a link the script planted", function()
    local target = env.dir .. "/precious.txt"
    assert(fs.write_file_atomic(target, PRECIOUS))
    local id = env:create_task({
      sh = "rm -f .task-credentials.json && ln -s '" .. target .. "' .task-credentials.json",
      creds = true,
      sleep = 7,
    }, { retries = 0 })
    local st = env:wait_resolved(id)
    assert.are.equal("completed", st.state)
    assert.is_true((fx:stats().requests.reclaimTask or 0) >= 2)
    assert.are.equal(PRECIOUS, fs.read_file(target))
    -- The script still read fresh credentials on its descriptor.
    local c = json.decode(assert(env:artifact(id, 0, "public/creds.json")).body)
    assert.are_not.equal(c.start.clientId, c.finish.clientId)
  end)
end)
