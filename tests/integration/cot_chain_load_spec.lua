-- chain:load(fx) against the Queue emulator: every link completed by the
-- worker its chain-of-trust.json names, every artifact stored as a worker
-- uploads it (text gzipped), served over HTTP as the engine downloads it,
-- the mirror files served under fx:mirror_url(), and the root pending on
-- its own queue for the worker to claim. Needs the fixture calls
-- complete_task, put_artifact, put_mirror and mirror_url of
-- tests/support_queue.lua.
local fs = require("sw.fs")
local http = require("sw.http")
local sched = require("sw.sched")
local compare = require("sw.cot.v2.compare")
local support = require("support")
local support_queue = require("support_queue")
local cot_chain = require("cot_chain")

describe("cot_chain:load in the Queue emulator", function()
  local fx

  setup(function()
    fx = support_queue.start({ args = { "--references", support.shared .. "/taskcluster/references.json" } })
  end)

  teardown(function()
    if fx then
      assert.are.equal(0, fx:stop().code)
    end
  end)

  local function get(url)
    return sched.run(function()
      return assert(http.request({ url = url, timeout = 30 }))
    end)
  end

  it("loads a chain the engine can read", function()
    if not (fx.put_artifact and fx.put_mirror and fx.complete_task and fx.mirror_url) then
      pending("the fixture calls (complete_task, put_artifact, put_mirror, mirror_url) are not here yet")
      return
    end
    local chain = cot_chain.build({ parent = "action", root_type = "beetmover", restricted = true,
      root_provisioner = "proj-releng", root_worker_type = fx:unique_queue():match("/(.*)$") .. "-beetmover",
      shape = { signing = true, generic_build = true, old_decision = true } })
    chain:load(fx)
    for _, rec in ipairs(chain.tasks) do
      local info = fx:task_info(rec.id)
      assert.is_true(compare.equal(rec.def, info.task), rec.key)
      local run = info.status.runs[#info.status.runs]
      if rec == chain.root_rec then
        assert.are.equal("pending", info.status.state)
      else
        assert.are.equal("completed", info.status.state, rec.key)
        assert.are.equal(rec.worker_group, run.workerGroup)
        assert.are.equal(rec.worker_id, run.workerId)
        for name in pairs(chain.artifacts[rec.id]) do
          -- the latest-artifact URL the engine downloads (public/ names)
          local url = fx.root_url .. "/api/queue/v1/task/" .. rec.id .. "/artifacts/"
            .. name:gsub("/", "%%2F")
          local res = get(url)
          local seen = 0
          while res.status >= 300 and res.status < 400 and seen < 3 do
            res, seen = get(res.headers.location), seen + 1
          end
          assert.are.equal(200, res.status, rec.key .. " " .. name)
          local body = res.body
          if res.headers["content-encoding"] == "gzip" then
            body = assert(fs.gunzip_string(body))
          end
          assert.are.equal(chain:artifact(rec.id, name), body, rec.key .. " " .. name)
        end
      end
    end
    local mirror = fx:mirror_url()
    for path, bytes in pairs(chain.mirror) do
      local res = get(mirror .. path)
      assert.are.equal(200, res.status, path)
      assert.are.equal(bytes, res.body, path)
    end
    -- the root is claimable on its own queue
    local claimed = sched.run(function()
      return assert(fx:client("worker"):call("claimWork", chain.root.taskQueueId, {
        workerGroup = "wg-1", workerId = "wid-1", tasks = 1,
      }))
    end)
    assert.are.equal(1, #claimed.tasks)
    assert.are.equal(chain.root_task_id, claimed.tasks[1].status.taskId)
    assert.is_true(compare.equal(chain.root, claimed.tasks[1].task))
  end)
end)
