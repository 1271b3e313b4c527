-- tests/cot_chain.lua against the local Queue emulator: the emulator
-- (strict schemas) accepts every task definition of the generated chains,
-- in their creation order, and gives back exactly the definition the
-- chain embeds in its chain-of-trust.json files and task graphs.
local compare = require("sw.cot.v2.compare")
local support = require("support")
local support_queue = require("support_queue")
local cot_chain = require("cot_chain")

local CHAINS = {
  { product = "firefox" },
  { product = "firefox", parent = "action", root_type = "beetmover", restricted = true,
    shape = { signing = true, generic_build = true, old_decision = true, n_extra = 2 } },
  { product = "firefox", parent = "cron", root_type = "balrog" },
  { product = "mobile", parent = "action", root_type = "pushapk", shape = { signing = true } },
  { product = "app-services", parent = "cron", root_type = "beetmover", shape = { docker_image = false } },
}

describe("cot_chain in the Queue emulator", function()
  local fx

  setup(function()
    fx = support_queue.start({ args = { "--references", support.shared .. "/taskcluster/references.json" } })
  end)

  teardown(function()
    if fx then
      assert.are.equal(0, fx:stop().code)
    end
  end)

  local function create_all(chain)
    for _, rec in ipairs(chain.tasks) do
      local id = fx:create_task(cot_chain.copy(rec.def), rec.id)
      assert.are.equal(rec.id, id)
    end
    for _, rec in ipairs(chain.tasks) do
      local info = fx:task_info(rec.id)
      assert.is_true(compare.equal(rec.def, info.task), rec.key .. ": " .. table.concat(
        (function()
          local out = {}
          for _, d in ipairs(compare.diff(rec.def, info.task)) do
            out[#out + 1] = d.text
          end
          return out
        end)(), "; "))
      if rec ~= chain.root_rec then
        assert.is_true(compare.equal(chain.cot[rec.id].task, info.task), rec.key)
      end
    end
  end

  for _, opts in ipairs(CHAINS) do
    it("accepts " .. require("sw.json").encode(opts, { sort_keys = true }), function()
      create_all(cot_chain.build(opts))
    end)
  end

  it("accepts a chain made too deep (the tasks are created in dependency order)", function()
    create_all(cot_chain.build({ parent = "action" }):tamper("too_deep"))
  end)
end)
