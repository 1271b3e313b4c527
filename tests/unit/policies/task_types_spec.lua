-- policies/task_types/*.lua: the 14 task types of VERIFY.md section 2 with
-- the per-type rules of section 5 as data the engine applies.
local policy = require("sw.policy")
local support = require("support")

local set = assert(policy.load(support.root .. "/policies"))

local SCRIPTWORKER_TYPES = { "scriptworker", "balrog", "beetmover", "bouncer", "pushapk", "shipit", "signing" }

describe("policies/task_types", function()
  it("are exactly the task types Python accepts", function()
    local names = {}
    for name in pairs(set.task_types) do
      names[#names + 1] = name
    end
    table.sort(names)
    assert.same({ "action", "balrog", "beetmover", "bouncer", "build", "decision", "docker-image", "l10n",
      "partials", "pushapk", "repackage", "scriptworker", "shipit", "signing" }, names)
  end)

  it("decision: a parent in the decision pools, with its three artifacts", function()
    local t = set.task_types.decision
    assert.is_true(t.parent)
    assert.equal("valid_decision_worker_pools", t.worker_pools)
    assert.same({ "public/task-graph.json", "public/actions.json", "public/parameters.yml" }, t.artifacts)
    assert.is_nil(t.worker_impls)
  end)

  it("action: a parent in the decision pools, with its task graph", function()
    local t = set.task_types.action
    assert.is_true(t.parent)
    assert.equal("valid_decision_worker_pools", t.worker_pools)
    assert.same({ "public/task-graph.json" }, t.artifacts)
  end)

  it("docker-image: in the image pools", function()
    local t = set.task_types["docker-image"]
    assert.equal("valid_docker_image_worker_pools", t.worker_pools)
    assert.is_nil(t.parent)
    assert.is_nil(t.worker_impls)
  end)

  for _, name in ipairs({ "build", "l10n", "repackage", "partials" }) do
    it(name .. ": no checks", function()
      local t = set.task_types[name]
      for _, field in ipairs({ "worker_impls", "worker_pools", "artifacts", "parent", "verify" }) do
        assert.is_nil(t[field], name .. "." .. field)
      end
    end)
  end

  for _, name in ipairs(SCRIPTWORKER_TYPES) do
    it(name .. ": must be run from scriptworker", function()
      local t = set.task_types[name]
      assert.same({ "scriptworker" }, t.worker_impls)
      assert.is_nil(t.worker_pools)
      assert.is_nil(t.parent)
    end)
  end

  it("instance policies name a task type each, and no product", function()
    for name, inst in pairs(set.instances) do
      assert.equal(name, inst.cot_job_type)
      assert.is_table(set.task_types[inst.cot_job_type])
      assert.is_nil(inst.cot_product)
    end
  end)
end)
