-- tests/cot_chain.lua: the chains it generates are valid by every check
-- of cot/VERIFY.md that can be made without a Queue (json-e rebuild with
-- sw.cot.v2, signatures, schema, hashes, task graphs, pools, trusted
-- repositories), and each tampering breaks exactly what it claims.
local json = require("sw.json")
local hash = require("sw.hash")
local fs = require("sw.fs")
local regex = require("sw.regex")
local schema = require("sw.schema")
local sign = require("sw.sign")
local config_mod = require("sw.config")
local v2 = require("sw.cot.v2")
local compare = require("sw.cot.v2.compare")
local log = require("sw.log")
local support = require("support")
local cot_chain = require("cot_chain")

local MIRROR = "http://mirror.test"
local IMPLS = cot_chain.IMPLS

local validator = assert(schema.load(config_mod.data_dir() .. "/cot_v1_schema.json"))

local function product_config(product)
  local c = config_mod.deepcopy(config_mod.defaults().DEFAULT_CONFIG)
  c.cot_product = product
  local messages = {}
  config_mod.apply_product_config(c, messages)
  assert.are.same({}, messages)
  c.project_configuration_url = MIRROR .. "/projects.yml"
  return c
end

local function contains(list, v)
  for _, x in ipairs(list) do
    if x == v then
      return true
    end
  end
  return false
end

-- sw.cot.v2 on a decision or action task of the chain.
local function v2_verify(chain, rec)
  local def = rec.def
  local decision = chain.by_key.decision
  for _, r in ipairs(chain.tasks) do
    if r.id == def.taskGroupId then
      decision = r
    end
  end
  return v2.verify_parent_task_definition({
    name = rec.key,
    task_id = rec.id,
    task = def,
    decision_task_id = def.taskGroupId,
    decision_task = decision.def,
    config = product_config(chain.product_name),
    inputs = chain:v2_inputs(MIRROR),
  })
end

local function body_of(chain, rec)
  return json.decode(chain:artifact(rec.id, cot_chain.COT_NAME))
end

local function sig_ok(chain, rec, impl)
  return sign.verify(cot_chain.public_key(impl), chain:artifact(rec.id, cot_chain.COT_NAME),
    chain:artifact(rec.id, cot_chain.SIG_NAME))
end

-- relative-datestamps resolved against the runtime created time
-- (VERIFY.md 5, verify_link_in_task_graph).
local OFFSET_MS = { ["0 seconds"] = 0, ["1 day"] = 86400000, ["1 year"] = 365 * 86400000 }

local function created_ms(created)
  local y, mo, d, h, mi, s, ms = created:match("^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)%.(%d+)Z$")
  assert(y, created)
  -- days from civil (proleptic Gregorian), for a UTC timestamp
  y, mo = tonumber(y), tonumber(mo)
  if mo <= 2 then
    y = y - 1
  end
  local era = y // 400
  local yoe = y - era * 400
  local mp = (mo + 9) % 12
  local doy = (153 * mp + 2) // 5 + tonumber(d) - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  local days = era * 146097 + doe - 719468
  return ((days * 24 + tonumber(h)) * 60 + tonumber(mi)) * 60000 + tonumber(s) * 1000 + tonumber(ms)
end

local function resolve(v, base)
  if type(v) ~= "table" then
    return v
  end
  local n, only = 0, nil
  for k in pairs(v) do
    n, only = n + 1, k
  end
  if n == 1 and only == "relative-datestamp" then
    return cot_chain.iso(base + assert(OFFSET_MS[v[only]], v[only]))
  end
  local out = {}
  for k, x in pairs(v) do
    out[k] = resolve(x, base)
  end
  return setmetatable(out, getmetatable(v))
end

local IGNORED = { created = true, deadline = true, dependencies = true, expires = true, projectId = true,
  schedulerId = true, taskQueueId = true, priority = true }

-- The graph checks of VERIFY.md 5 for one member: nil when it passes,
-- else what differs.
local function graph_problem(chain, rec)
  local def = rec.def
  local parent_id = def.extra.parent or def.taskGroupId
  local graph = chain.graphs[parent_id]
  if not graph then
    return "no graph for parent " .. parent_id
  end
  local entry = graph[rec.id]
  if not entry then
    return "not in the graph"
  end
  local allowed = { [def.taskGroupId] = true }
  for _, id in ipairs(entry.task.dependencies) do
    allowed[id] = true
  end
  for _, id in ipairs(def.dependencies) do
    if not allowed[id] then
      return "dependency " .. id .. " not in the graph"
    end
  end
  local g = resolve(entry.task, created_ms(def.created))
  for k, v in pairs(g) do
    if not IGNORED[k] and not compare.equal(v, def[k]) then
      return k .. " differs"
    end
  end
  return nil
end

local function repo_path(config, url)
  local scheme, netloc, path = url:match("^(%a+)://([^/]+)(/.*)$")
  for _, rule in ipairs(config.trusted_vcs_rules) do
    if contains(rule.schemes, scheme) and contains(rule.netlocs, netloc) then
      for _, pat in ipairs(rule.path_regexes) do
        local m = regex.search(pat, path)
        if m then
          return m.path
        end
      end
    end
  end
  return nil
end

-- The names a verifier gives the links (VERIFY.md 2,
-- find_sorted_task_dependencies, breadth first); returns the deepest
-- colon count.
local function max_depth(chain)
  local by_id = {}
  for _, r in ipairs(chain.tasks) do
    by_id[r.id] = r
  end
  local seen, queue, deepest = {}, { { chain.root, 0 } }, 0
  while #queue > 0 do
    local def, depth = table.unpack(table.remove(queue, 1))
    deepest = math.max(deepest, depth)
    local deps = { def.extra.parent or def.taskGroupId }
    for _, v in pairs(def.extra.chainOfTrust and def.extra.chainOfTrust.inputs or {}) do
      deps[#deps + 1] = v
    end
    for _, u in ipairs(def.payload.upstreamArtifacts or {}) do
      deps[#deps + 1] = u.taskId
    end
    for _, id in ipairs(deps) do
      if not seen[id] and by_id[id] then
        seen[id] = true
        queue[#queue + 1] = { by_id[id].def, depth + 1 }
      end
    end
  end
  return deepest
end

local SCRIPT_TYPES = { scriptworker = true, balrog = true, beetmover = true, bouncer = true, pushapk = true,
  shipit = true, signing = true }
local TASK_TYPES = { build = true, l10n = true, repackage = true, action = true, decision = true,
  ["docker-image"] = true, partials = true }
for k in pairs(SCRIPT_TYPES) do
  TASK_TYPES[k] = true
end

-- guess_worker_impl (VERIFY.md 2): the distinct candidates.
local function worker_impls(def)
  local found, list = {}, {}
  local function add(impl)
    if not found[impl] then
      found[impl] = true
      list[#list + 1] = impl
    end
  end
  local p = def.payload
  if p.image then
    add("docker-worker")
  end
  if def.provisionerId == "scriptworker-k8s" or def.provisionerId == "scriptworker-prov-v1"
      or def.provisionerId == "proj-releng" then
    add("scriptworker")
  end
  if p.mounts ~= nil or p.osGroups ~= nil then
    add("generic-worker")
  end
  if def.tags["worker-implementation"] then
    add(def.tags["worker-implementation"])
  end
  for _, scope in ipairs(def.scopes) do
    if scope:find("^docker%-worker:") then
      add("docker-worker")
    end
  end
  return list
end

-- Every check a valid chain passes.
local function assert_valid(chain)
  local config = product_config(chain.product_name)
  local root_path = assert(repo_path(config, chain.root.metadata.source))
  for _, rec in ipairs(chain:links()) do
    local def = rec.def
    -- signature: its own implementation's key, and no other
    for _, impl in ipairs(IMPLS) do
      assert.are.equal(impl == rec.impl, sig_ok(chain, rec, impl), rec.key .. " signed by " .. impl)
    end
    local text = chain:artifact(rec.id, cot_chain.COT_NAME)
    local body = assert(json.decode(text))
    assert.is_true(validator(body))
    assert.are.equal(text, json.encode(body, { canonical = true }))
    assert.are.equal(rec.id, body.taskId)
    assert.is_true(compare.equal(def, body.task), rec.key .. ": embedded task")
    assert.are.equal(def.workerType, body.workerType)
    -- every artifact is in the CoT with its digest, and only those
    local names = {}
    for name in pairs(chain.artifacts[rec.id]) do
      if name ~= cot_chain.COT_NAME and name ~= cot_chain.SIG_NAME then
        names[name] = true
        assert.are.same({ sha256 = hash.string(chain:artifact(rec.id, name), "sha256") }, body.artifacts[name])
      end
    end
    for name in pairs(body.artifacts) do
      assert.is_true(names[name], rec.key .. ": " .. name)
    end
    -- the Queue definition is complete
    assert.are.equal(def.provisionerId .. "/" .. def.workerType, def.taskQueueId)
    for _, k in ipairs({ "schedulerId", "projectId", "taskGroupId", "dependencies", "requires", "routes",
      "priority", "retries", "created", "deadline", "expires", "scopes", "payload", "metadata", "tags", "extra" }) do
      assert.is_not_nil(def[k], rec.key .. "." .. k)
    end
    assert.are.same({ rec.impl }, worker_impls(def), rec.key)
    if SCRIPT_TYPES[rec.type] then
      assert.are.equal("scriptworker", rec.impl, rec.key)
    end
    local parent = def.extra.parent
    if parent then
      local pt
      for _, r in ipairs(chain.tasks) do
        if r.id == parent then
          pt = r.type
        end
      end
      assert.is_true(pt == "decision" or pt == "action", rec.key .. ": extra.parent")
    end
    if chain.restricted then
      assert.is_falsy((def.payload.env and def.payload.env.MH_BRANCH or ""):find("try"))
      assert.is_falsy(tostring(def.extra.tasks_for):find("^github%-pull%-request"))
    end
    local pool = def.provisionerId .. "/" .. def.workerType
    if rec.type == "decision" or rec.type == "action" then
      assert.is_true(contains(config.valid_decision_worker_pools, pool), pool)
      assert.is_true(v2_verify(chain, rec))
    elseif rec.type == "docker-image" then
      assert.is_true(contains(config.valid_docker_image_worker_pools, pool), pool)
    end
    if rec.type ~= "decision" and rec.type ~= "action" then
      assert.is_nil(graph_problem(chain, rec), rec.key)
    end
    if rec.impl == "docker-worker" then
      assert.is_table(def.payload.env)
      assert.is_table(def.payload.features)
      assert.is_falsy(def.payload.features.interactive)
      assert.is_falsy(def.payload.env.TASKCLUSTER_INTERACTIVE)
      local image = def.payload.image
      if type(image) == "table" then
        assert.are.equal("task-image", image.type)
        assert.are.equal(def.extra.chainOfTrust.inputs["docker-image"], image.taskId)
        local di = assert(chain.cot[image.taskId])
        assert.are.equal("sha256:" .. di.artifacts[image.path].sha256, body.environment.imageArtifactHash)
      elseif chain.product.kind == "hg" then
        assert.is_true(contains({ "decision", "action", "docker-image" }, rec.type), rec.key)
      end
    elseif rec.impl == "scriptworker" then
      assert.are.equal("scriptworker-k8s", def.provisionerId)
    else
      assert.is_table(def.payload.mounts)
      assert.is_nil(def.payload.rdpInfo)
      for _, scope in ipairs(def.scopes) do
        assert.is_nil(scope:find("^generic%-worker:allow%-rdp:"), scope)
      end
    end
    -- trace back: the root's task group comes from the root's repository
    local path = repo_path(config, def.metadata.source)
    if def.taskGroupId == chain.root.taskGroupId then
      assert.are.equal(root_path, path, rec.key)
    else
      assert.is_string(path, rec.key)
    end
    local repo = def.payload.env and def.payload.env[chain.product.prefix .. "_HEAD_REPOSITORY"]
    if repo then
      assert.are.equal(repo .. "/", def.metadata.source:sub(1, #repo + 1))
    end
  end
  -- the root
  assert.is_nil(graph_problem(chain, chain.root_rec))
  assert.is_nil(chain.artifacts[chain.root_task_id][cot_chain.COT_NAME])
  local restricted = false
  for _, scope in ipairs(chain.root.scopes) do
    local level = config.cot_restricted_scopes[scope]
    if level then
      restricted = true
      assert.is_true(contains(config.cot_restricted_trees[level], root_path), scope)
    end
  end
  assert.are.equal(chain.restricted, restricted)
  assert.are.same({ "scriptworker" }, worker_impls(chain.root))
  if chain.root.extra.parent then
    assert.are.equal(chain:task("action").id, chain.root.extra.parent)
  end
  for _, u in ipairs(chain.root.payload.upstreamArtifacts) do
    assert.is_true(TASK_TYPES[u.taskType], u.taskType)
    for _, path in ipairs(u.paths) do
      assert.is_table(chain.cot[u.taskId].artifacts[path])
    end
  end
  assert.is_true(max_depth(chain) <= 20)
end

local SHAPES = {
  { product = "firefox" },
  { product = "firefox", parent = "cron", root_type = "beetmover", shape = { generic_build = true } },
  { product = "firefox", parent = "action", root_type = "beetmover", restricted = true,
    shape = { signing = true, generic_build = true, old_decision = true } },
  { product = "firefox", root_type = "balrog", restricted = true, shape = { n_extra = 3 } },
  { product = "mobile" },
  { product = "mobile", parent = "cron", root_type = "pushapk", restricted = true, shape = { signing = true } },
  { product = "mobile", parent = "action", shape = { signing = true, old_decision = true } },
  { product = "app-services", root_type = "beetmover", restricted = true, shape = { docker_image = false } },
  { product = "app-services", parent = "action", shape = { docker_build = false, generic_build = true } },
}

local function label(opts)
  return json.encode(opts, { sort_keys = true })
end

describe("cot_chain", function()
  local log_path

  setup(function()
    log_path = os.tmpname()
    assert(log.set_output(log_path))
  end)

  teardown(function()
    log.set_output(nil)
    os.remove(log_path)
  end)

  describe("builds valid chains", function()
    for _, opts in ipairs(SHAPES) do
      it(label(opts), function()
        local chain = cot_chain.build(opts)
        assert_valid(chain)
        assert.are.equal(opts.root_type or "signing", chain.root_type)
        assert.are.equal(chain.root_task_id, chain.root_rec.id)
      end)
    end

    it("has the links each shape asks for", function()
      local c = cot_chain.build({ parent = "action", root_type = "beetmover",
        shape = { signing = true, generic_build = true, old_decision = true, n_extra = 2 } })
      for _, key in ipairs({ "old-decision", "old-docker-image", "decision", "build", "generic-build", "l10n-1",
        "l10n-2", "action", "signing", "root" }) do
        assert.is_table(c:task(key), key)
      end
      assert.is_nil(c:task("docker-image"))
      assert.are.equal(c:task("action").id, c.root.extra.parent)
      assert.are.equal(c:task("decision").id, c.root.taskGroupId)
      assert.are.equal(c:task("old-decision").id, c:task("old-docker-image").def.taskGroupId)
      assert.are.equal(c:task("old-docker-image").id, c:task("build").def.payload.image.taskId)
      assert.are.same({ c:task("signing").id }, c.root.dependencies)
      assert.are.equal("signing", c.root.payload.upstreamArtifacts[1].taskType)
      assert.are.equal(4, #c:task("signing").def.payload.upstreamArtifacts)
      -- the action's graph holds what the action created, the decision's the rest
      assert.is_table(c.graphs[c:task("action").id][c.root_task_id])
      assert.is_table(c.graphs[c:task("action").id][c:task("signing").id])
      assert.is_nil(c.graphs[c:task("decision").id][c.root_task_id])
      assert.is_table(c.graphs[c:task("decision").id][c:task("build").id])
      assert.is_table(c.graphs[c:task("old-decision").id][c:task("old-docker-image").id])
      assert.are.equal("action", c:task("action").def.extra.tasks_for)
      assert.are.equal("release-promotion", c:task("action").def.payload.env.ACTION_CALLBACK)
      assert.are.equal("cron", cot_chain.build({ parent = "cron" }):task("decision").def.extra.tasks_for)
    end)

    it("gives every chain fresh taskIds", function()
      local a, b = cot_chain.build({}), cot_chain.build({})
      local ids = {}
      for _, c in ipairs({ a, b }) do
        for _, r in ipairs(c.tasks) do
          assert.is_nil(ids[r.id])
          ids[r.id] = true
        end
      end
    end)

    it("puts graph_tasks more entries in a file-backed task graph", function()
      local c = cot_chain.build({ graph_tasks = 150 })
      local art = c.artifacts[c.decision.id]["public/task-graph.json"]
      assert.is_string(art.path)
      local graph = assert(json.decode_file(art.path))
      local n = 0
      for _ in pairs(graph) do
        n = n + 1
      end
      assert.are.equal(150 + 3, n)
      assert.is_table(graph[c.root_task_id])
      assert.are.same({ sha256 = hash.file(art.path, "sha256") },
        c.cot[c.decision.id].artifacts["public/task-graph.json"])
      assert_valid(c)
      c:cleanup()
      assert.is_nil(io.open(art.path, "rb"))
    end)

    it("appends the entries of graph_file to the parent's task graph", function()
      local dir = support.tmpdir()
      local file = dir .. "/graph.json"
      -- pretty-printed as gen-task-graph.py writes it, with blank space
      -- around the braces
      support.write(file, '\n{\n  "aaaaaaaaaaaaaaaaaaaaaa": {"kind": "test", "n": [1, 2]},\n'
        .. '  "bbbbbbbbbbbbbbbbbbbbbb": {"kind": "build", "s": "}"}\n}\n')
      local c = cot_chain.build({ graph_file = file })
      local art = c.artifacts[c.decision.id]["public/task-graph.json"]
      assert.is_string(art.path)
      assert.are_not.equal(file, art.path)
      local graph = assert(json.decode_file(art.path))
      local n = 0
      for _ in pairs(graph) do
        n = n + 1
      end
      assert.are.equal(2 + 3, n)
      assert.are.same({ kind = "test", n = { 1, 2 } }, graph.aaaaaaaaaaaaaaaaaaaaaa)
      assert.are.same({ kind = "build", s = "}" }, graph.bbbbbbbbbbbbbbbbbbbbbb)
      assert.is_table(graph[c.root_task_id])
      assert.are.same({ sha256 = hash.file(art.path, "sha256") },
        c.cot[c.decision.id].artifacts["public/task-graph.json"])
      assert_valid(c)
      c:cleanup()
      assert.is_nil(io.open(art.path, "rb"))
      -- the source file is left alone
      assert.is_truthy(io.open(file, "rb"))
      fs.rmtree(dir)
    end)

    it("refuses a graph_file that is not a JSON object", function()
      local dir = support.tmpdir()
      support.write(dir .. "/list.json", "[1, 2]\n")
      assert.has_error(function()
        cot_chain.build({ graph_file = dir .. "/list.json" })
      end)
      fs.rmtree(dir)
    end)

    it("builds a normal chain in milliseconds", function()
      local t0 = os.clock()
      for _ = 1, 10 do
        cot_chain.build({ shape = { generic_build = true, signing = true } })
      end
      -- generous: about 3 ms each on an idle machine
      assert.is_true(os.clock() - t0 < 5)
    end)
  end)

  describe("tamperings", function()
    local function build(opts)
      return cot_chain.build(opts or {})
    end

    local function rebuilt_ok(chain)
      for _, rec in ipairs(chain:links()) do
        if rec.type == "decision" or rec.type == "action" then
          assert.is_true(v2_verify(chain, rec))
        end
      end
    end

    it("every tampering names catalogue entries and a check", function()
      local n = 0
      for name, t in pairs(cot_chain.TAMPERINGS) do
        n = n + 1
        assert.is_table(t.catalogue, name)
        assert.is_string(t.check, name)
        assert.is_function(t.fn, name)
      end
      assert.is_true(n >= 46)
    end)

    it("build_tampered: every tampering breaks a valid chain of its shape", function()
      for name in pairs(cot_chain.TAMPERINGS) do
        local valid = cot_chain.build(cot_chain.TAMPERINGS[name].opts)
        assert_valid(valid)
        local c = cot_chain.build_tampered(name)
        assert.are.equal(name, c.tampered.name)
        local ok = pcall(assert_valid, c)
        local v2_fails = false
        for _, rec in ipairs(c:links()) do
          if (rec.type == "decision" or rec.type == "action") and not v2_verify(c, rec) then
            v2_fails = true
          end
        end
        assert.is_true(not ok or v2_fails, name .. " passes every check of assert_valid")
      end
    end)

    it("docs/cot-chain.md lists every tampering with its catalogue entries", function()
      local doc = support.read(support.root .. "/docs/cot-chain.md")
      for name, t in pairs(cot_chain.TAMPERINGS) do
        local cat = {}
        for i, c in ipairs(t.catalogue) do
          cat[i] = "#" .. c
        end
        local row = "| `" .. name .. "` | " .. (#cat > 0 and table.concat(cat, ", ") or "-") .. " | " .. t.check .. " |"
        assert.is_truthy(doc:find(row, 1, true), row)
      end
    end)

    it("body_edited_after_signing: the signature fails, the body is still JSON", function()
      local c = build():tamper("body_edited_after_signing", "build")
      local b = c:task("build")
      assert.is_false(sig_ok(c, b, "docker-worker"))
      assert.is_table(body_of(c, b))
      assert.are.equal("body_edited_after_signing", c.tampered.name)
      assert.are.same({ 15 }, c.tampered.catalogue)
    end)

    it("signed_by_wrong_key: another implementation's key", function()
      local c = build():tamper("signed_by_wrong_key", "build")
      assert.is_false(sig_ok(c, c:task("build"), "docker-worker"))
      assert.is_true(sig_ok(c, c:task("build"), "scriptworker"))
      local s = build({ shape = { signing = true } }):tamper("signed_by_wrong_key", "signing")
      assert.is_false(sig_ok(s, s:task("signing"), "scriptworker"))
      assert.is_true(sig_ok(s, s:task("signing"), "docker-worker"))
    end)

    it("sig_missing and cot_missing remove one artifact", function()
      local c = build():tamper("sig_missing", "build")
      assert.is_nil(c.artifacts[c:task("build").id][cot_chain.SIG_NAME])
      assert.is_string(c.artifacts[c:task("build").id][cot_chain.COT_NAME])
      c = build():tamper("cot_missing", "docker-image")
      assert.is_nil(c.artifacts[c:task("docker-image").id][cot_chain.COT_NAME])
      assert.is_string(c.artifacts[c:task("docker-image").id][cot_chain.SIG_NAME])
    end)

    it("cot_not_json: signed, not JSON", function()
      local c = build():tamper("cot_not_json", "build")
      local b = c:task("build")
      assert.is_true(sig_ok(c, b, "docker-worker"))
      assert.is_nil(json.decode(c:artifact(b.id, cot_chain.COT_NAME)))
    end)

    it("cot_task_id_mismatch: signed, another taskId", function()
      local c = build():tamper("cot_task_id_mismatch", "build")
      local b = c:task("build")
      assert.is_true(sig_ok(c, b, "docker-worker"))
      assert.are.equal(c.decision.id, body_of(c, b).taskId)
    end)

    it("cot_task_differs: signed, valid, embedded task differs from the Queue's", function()
      local c = build():tamper("cot_task_differs", "build")
      local b = c:task("build")
      local body = body_of(c, b)
      assert.is_true(sig_ok(c, b, "docker-worker"))
      assert.is_true(validator(body))
      assert.is_false(compare.equal(b.def, body.task))
    end)

    it("cot_schema_invalid: signed, right taskId, not cot_v1", function()
      local c = build():tamper("cot_schema_invalid", "build")
      local b = c:task("build")
      local body = body_of(c, b)
      assert.is_true(sig_ok(c, b, "docker-worker"))
      assert.are.equal(b.id, body.taskId)
      assert.is_nil(validator(body))
    end)

    it("artifact_bytes_changed: the digest differs, the signature holds", function()
      local c = build():tamper("artifact_bytes_changed", "build")
      local b = c:task("build")
      local body = body_of(c, b)
      assert.is_true(sig_ok(c, b, "docker-worker"))
      assert.are_not.equal(body.artifacts[b.out].sha256, hash.string(c:artifact(b.id, b.out), "sha256"))
      -- nothing else changed
      local log_name = "public/logs/live_backing.log"
      assert.are.equal(body.artifacts[log_name].sha256, hash.string(c:artifact(b.id, log_name), "sha256"))
    end)

    it("artifact_missing_from_cot, hash_alg_unknown, hash_empty_map: signed CoT entries", function()
      local c = build():tamper("artifact_missing_from_cot", "build")
      local b = c:task("build")
      assert.is_true(sig_ok(c, b, "docker-worker"))
      assert.is_nil(body_of(c, b).artifacts[b.out])
      assert.is_string(c:artifact(b.id, b.out))
      c = build():tamper("hash_alg_unknown", "build")
      b = c:task("build")
      assert.are.same({ "md5" }, (function()
        local ks = {}
        for k in pairs(body_of(c, b).artifacts[b.out]) do
          ks[#ks + 1] = k
        end
        return ks
      end)())
      assert.is_true(sig_ok(c, b, "docker-worker"))
      c = build():tamper("hash_empty_map", "build")
      b = c:task("build")
      assert.is_nil(next(body_of(c, b).artifacts[b.out]))
      assert.is_true(sig_ok(c, b, "docker-worker"))
    end)

    it("upstream paths: .., absolute, mandatory wildcard (the graph agrees)", function()
      for name, path in pairs({ upstream_path_dotdot = "public/../../../etc/passwd",
        upstream_path_absolute = "/etc/passwd", upstream_wildcard_mandatory = "public/build/*" }) do
        local c = build():tamper(name)
        assert.are.equal(path, c.root.payload.upstreamArtifacts[1].paths[1])
        assert.is_nil(graph_problem(c, c.root_rec))
        rebuilt_ok(c)
      end
    end)

    it("decision_pool_invalid: json-e still matches, the pool is wrong", function()
      for _, opts in ipairs({ { parent = "action" }, { product = "mobile" } }) do
        local c = build(opts):tamper("decision_pool_invalid")
        local def = c.decision.def
        local config = product_config(c.product_name)
        assert.is_false(contains(config.valid_decision_worker_pools, def.provisionerId .. "/" .. def.workerType))
        rebuilt_ok(c)
        assert.is_true(sig_ok(c, c.decision, "docker-worker"))
      end
    end)

    it("docker_image_pool_invalid: the graph and CoT agree, the pool is wrong", function()
      local c = build():tamper("docker_image_pool_invalid")
      local di = c:task("docker-image")
      local config = product_config("firefox")
      assert.is_false(contains(config.valid_docker_image_worker_pools, di.def.taskQueueId))
      assert.is_nil(graph_problem(c, di))
      assert.is_true(compare.equal(di.def, body_of(c, di).task))
    end)

    it("scriptworker_type_on_docker_worker: a signing link on docker-worker, all else consistent", function()
      local c = build({ shape = { signing = true } }):tamper("scriptworker_type_on_docker_worker")
      local s = c:task("signing")
      assert.are.equal("gecko-3/b-linux", s.def.taskQueueId)
      assert.are.equal("task-image", s.def.payload.image.type)
      assert.is_true(sig_ok(c, s, "docker-worker"))
      local di = c:task("docker-image")
      assert.are.equal("sha256:" .. c.cot[di.id].artifacts[cot_chain.IMAGE_PATH].sha256,
        body_of(c, s).environment.imageArtifactHash)
      assert.is_nil(graph_problem(c, s))
    end)

    it("worker implementation: ambiguous, none", function()
      local c = build():tamper("worker_impl_ambiguous")
      local p = c:task("build").def.payload
      assert.is_table(p.image)
      assert.is_table(p.osGroups)
      c = build():tamper("worker_impl_none")
      local def = c:task("build").def
      assert.is_nil(def.payload.image)
      assert.is_nil(def.payload.mounts)
      assert.is_nil(def.payload.osGroups)
      assert.are.same({}, def.scopes)
      assert.is_nil(def.tags["worker-implementation"])
    end)

    it("interactive_docker_task, rdp_generic_task", function()
      local c = build():tamper("interactive_docker_task")
      assert.is_true(c:task("build").def.payload.features.interactive)
      c = build({ shape = { generic_build = true } }):tamper("rdp_generic_task")
      assert.is_string(c:task("generic-build").def.payload.rdpInfo)
      assert.has_error(function()
        build():tamper("rdp_generic_task")
      end)
    end)

    it("image_hash_mismatch, image_taskid_mismatch, prebuilt_image_not_allowed", function()
      local c = build():tamper("image_hash_mismatch")
      local b, di = c:task("build"), c:task("docker-image")
      assert.are_not.equal("sha256:" .. c.cot[di.id].artifacts[cot_chain.IMAGE_PATH].sha256,
        body_of(c, b).environment.imageArtifactHash)
      assert.is_true(sig_ok(c, b, "docker-worker"))
      c = build():tamper("image_taskid_mismatch")
      b = c:task("build")
      assert.are_not.equal(b.def.extra.chainOfTrust.inputs["docker-image"], b.def.payload.image.taskId)
      c = build():tamper("prebuilt_image_not_allowed")
      b = c:task("build")
      assert.is_string(b.def.payload.image)
      assert.is_nil(b.def.extra.chainOfTrust)
      assert.is_nil(graph_problem(c, b))
      assert.has_error(function()
        build({ product = "mobile" }):tamper("prebuilt_image_not_allowed")
      end)
    end)

    it("graph_missing_task, graph_field_differs, graph_deps_mismatch", function()
      local c = build():tamper("graph_missing_task")
      assert.are.equal("not in the graph", graph_problem(c, c.root_rec))
      assert.are.same({ sha256 = hash.string(c:artifact(c.decision.id, "public/task-graph.json"), "sha256") },
        c.cot[c.decision.id].artifacts["public/task-graph.json"])
      c = build():tamper("graph_field_differs", "build")
      assert.are.equal("payload differs", graph_problem(c, c:task("build")))
      c = build():tamper("graph_deps_mismatch", "build")
      assert.matches("^dependency .* not in the graph$", graph_problem(c, c:task("build")))
      assert.is_nil(graph_problem(c, c.root_rec))
    end)

    it("decision_definition_edited: cot v2 fails, the signature holds", function()
      local c = build():tamper("decision_definition_edited")
      local ok, msg, code = v2_verify(c, c.decision)
      assert.is_nil(ok)
      assert.are.equal("mismatch", code)
      assert.matches("curl", msg)
      assert.is_true(sig_ok(c, c.decision, "docker-worker"))
    end)

    it("taskcluster_yml_missing: cot v2 cannot fetch the template", function()
      local c = build():tamper("taskcluster_yml_missing")
      local ok, _, code = v2_verify(c, c.decision)
      assert.is_nil(ok)
      assert.are.equal("fetch", code)
    end)

    it("untrusted_repo and source_mismatch", function()
      for _, product in ipairs({ "firefox", "mobile" }) do
        local c = build({ product = product }):tamper("untrusted_repo")
        local def = c:task("build").def
        local config = product_config(product)
        assert.is_nil(repo_path(config, def.metadata.source))
        local repo = def.payload.env[c.product.prefix .. "_HEAD_REPOSITORY"]
        assert.are.equal(repo .. "/", def.metadata.source:sub(1, #repo + 1))
        c = build({ product = product }):tamper("source_mismatch")
        def = c:task("build").def
        repo = def.payload.env[c.product.prefix .. "_HEAD_REPOSITORY"]
        assert.are_not.equal(repo .. "/", def.metadata.source:sub(1, #repo + 1))
        assert.is_string(repo_path(config, def.metadata.source))
      end
    end)

    it("restricted_scope_wrong_tree", function()
      for _, opts in ipairs({ { restricted = true }, {}, { product = "mobile", restricted = true } }) do
        local c = build(opts):tamper("restricted_scope_wrong_tree")
        local config = product_config(c.product_name)
        local level = config.cot_restricted_scopes[c.root.scopes[1]]
        assert.is_string(level)
        assert.is_false(contains(config.cot_restricted_trees[level], repo_path(config, c.root.metadata.source)))
        assert.is_nil(graph_problem(c, c.root_rec))
      end
      assert.has_error(function()
        build({ product = "app-services", restricted = true }):tamper("restricted_scope_wrong_tree")
      end)
    end)

    it("try_in_chain (restricted chains only)", function()
      local c = build({ restricted = true }):tamper("try_in_chain")
      assert.are.equal("try", c:task("build").def.payload.env.MH_BRANCH)
      c = build({ product = "mobile", restricted = true }):tamper("try_in_chain")
      assert.are.equal("github-pull-request", c:task("build").def.extra.tasks_for)
      assert.has_error(function()
        build():tamper("try_in_chain")
      end)
    end)

    it("too_deep: a line of signing links past max_chain_length", function()
      local c = build({ parent = "action" }):tamper("too_deep")
      assert.is_true(max_depth(c) > 20)
      assert.are.equal(c.root_rec, c.tasks[#c.tasks])
      for _, rec in ipairs(c:links()) do
        if rec.key:match("^deep%-") then
          assert.is_nil(graph_problem(c, rec), rec.key)
          assert.is_true(sig_ok(c, rec, "scriptworker"))
        end
      end
      assert.is_nil(graph_problem(c, c.root_rec))
      -- root -> deep-1 -> deep-2 -> build -> docker-image (the decision is
      -- met first as root:parent)
      local shallow = build():tamper("too_deep", 2)
      assert.are.equal(4, max_depth(shallow))
    end)

    it("parent_not_decision: the root's extra.parent is a build", function()
      local c = build():tamper("parent_not_decision")
      assert.are.equal(c:task("build").id, c.root.extra.parent)
      assert.is_table(c.graphs[c.decision.id][c.root_task_id])
    end)

    it("artifact_missing, parent_artifact_changed", function()
      local c = build():tamper("artifact_missing", "build")
      local b = c:task("build")
      assert.is_nil(c:artifact(b.id, b.out))
      assert.is_table(body_of(c, b).artifacts[b.out])
      c = build():tamper("parent_artifact_changed")
      local graph = c:artifact(c.decision.id, "public/task-graph.json")
      assert.is_table(json.decode(graph))
      assert.are_not.equal(body_of(c, c.decision).artifacts["public/task-graph.json"].sha256,
        hash.string(graph, "sha256"))
      assert.is_true(sig_ok(c, c.decision, "docker-worker"))
    end)

    it("dependency_type_invalid", function()
      local c = build():tamper("dependency_type_invalid")
      assert.are.equal("build0", c.root.payload.upstreamArtifacts[1].taskType)
      assert.is_nil(graph_problem(c, c.root_rec))
    end)

    it("action_callback_unknown, tasks_for_invalid, commit_msg_mismatch: cot v2 fails", function()
      local c = build({ parent = "action" }):tamper("action_callback_unknown")
      local ok, msg, code = v2_verify(c, c:task("action"))
      assert.is_nil(ok)
      assert.are.equal("input", code)
      assert.matches("no action with callback release%-promotion%-evil", msg)
      assert.is_true(v2_verify(c, c.decision))
      for _, product in ipairs({ "firefox", "mobile" }) do
        c = build({ product = product }):tamper("tasks_for_invalid")
        ok, _, code = v2_verify(c, c.decision)
        assert.is_nil(ok)
        assert.are.equal("tasks_for", code)
      end
      c = build():tamper("commit_msg_mismatch")
      ok, msg, code = v2_verify(c, c.decision)
      assert.is_nil(ok)
      assert.are.equal("input", code)
      assert.matches("GECKO_COMMIT_MSG", msg)
      assert.has_error(function()
        build({ parent = "cron" }):tamper("commit_msg_mismatch")
      end)
    end)

    it("indexed_image_restricted, docker_task_without_features, rdp_scope, worker_impl_tag_unknown", function()
      local c = build({ product = "mobile", restricted = true }):tamper("indexed_image_restricted")
      assert.are.equal("indexed-image", c:task("build").def.payload.image.type)
      assert.is_nil(graph_problem(c, c:task("build")))
      c = build():tamper("docker_task_without_features")
      assert.is_nil(c:task("build").def.payload.features)
      assert.is_table(c:task("build").def.payload.env)
      c = build({ shape = { generic_build = true } }):tamper("rdp_scope")
      assert.matches("^generic%-worker:allow%-rdp:", c:task("generic-build").def.scopes[2])
      c = build():tamper("worker_impl_tag_unknown")
      local def = c:task("build").def
      assert.are.equal("taskcluster-worker", def.tags["worker-implementation"])
      assert.is_nil(def.payload.image)
      assert.are.same({}, def.scopes)
    end)

    it("refuses a second tampering and an unknown one", function()
      local c = build():tamper("sig_missing")
      assert.has_error(function()
        c:tamper("cot_missing")
      end)
      assert.has_error(function()
        build():tamper("no_such_thing")
      end)
    end)
  end)

  describe("load and config", function()
    local function fake_fx()
      local fx = { root_url = "http://127.0.0.1:41234", calls = {}, created = {}, completed = {} }
      function fx.create_task(self, def, task_id)
        for _, dep in ipairs(def.dependencies) do
          assert(self.created[dep], "dependency " .. dep .. " of " .. task_id .. " not created yet")
        end
        self.created[task_id] = def
        self.calls[#self.calls + 1] = { "create_task", task_id }
        return task_id, {}
      end
      function fx.put_artifact(self, task_id, run_id, name, bytes, o)
        assert(self.created[task_id] and not self.completed[task_id])
        self.calls[#self.calls + 1] = { "put_artifact", task_id, run_id, name, bytes, o }
      end
      function fx.complete_task(self, task_id, o)
        self.completed[task_id] = o
        self.calls[#self.calls + 1] = { "complete_task", task_id, o }
      end
      function fx.put_mirror(self, path, bytes)
        self.calls[#self.calls + 1] = { "put_mirror", path, bytes }
      end
      function fx.mirror_url()
        return "http://127.0.0.1:41234/__mirror"
      end
      return fx
    end

    it("load() creates, uploads and completes every task but the root", function()
      local c = cot_chain.build({ parent = "action", shape = { generic_build = true, signing = true } })
      local fx = fake_fx()
      c:load(fx)
      local uploads, mirror = {}, {}
      for _, call in ipairs(fx.calls) do
        if call[1] == "put_artifact" then
          local bytes = call[5]
          if call[6].content_encoding == "gzip" then
            bytes = assert(fs.gunzip_string(bytes))
          end
          assert.are.equal(0, call[3])
          uploads[call[2] .. " " .. call[4]] = { bytes = bytes, o = call[6] }
        elseif call[1] == "put_mirror" then
          mirror[call[2]] = call[3]
        end
      end
      assert.are.same(c.mirror, mirror)
      for _, rec in ipairs(c.tasks) do
        assert.is_true(compare.equal(rec.def, fx.created[rec.id]))
        if rec == c.root_rec then
          assert.is_nil(fx.completed[rec.id])
        else
          assert.are.same({ workerGroup = rec.worker_group, workerId = rec.worker_id }, fx.completed[rec.id])
          local body = c.cot[rec.id]
          assert.are.equal(rec.worker_group, body.workerGroup)
          assert.are.equal(rec.worker_id, body.workerId)
          for name in pairs(c.artifacts[rec.id]) do
            local u = assert(uploads[rec.id .. " " .. name], name)
            assert.are.equal(c:artifact(rec.id, name), u.bytes)
          end
          local cot = uploads[rec.id .. " " .. cot_chain.COT_NAME].o
          assert.are.equal("application/json", cot.content_type)
          assert.are.equal(rec.impl ~= "generic-worker" and "gzip" or nil, cot.content_encoding)
        end
      end
      assert.is_nil(uploads[c.decision.id .. " public/image.tar.zst"])
      local sig = uploads[c.decision.id .. " " .. cot_chain.SIG_NAME].o
      assert.is_nil(sig.content_encoding)
    end)

    it("config() points the engine at the fixture", function()
      local c = cot_chain.build({ product = "mobile", root_type = "pushapk" })
      local fx = fake_fx()
      local cfg = c:config(fx)
      assert.are.equal("mobile", cfg.cot_product)
      assert.are.equal("pushapk", cfg.cot_job_type)
      assert.is_true(cfg.verify_chain_of_trust)
      assert.is_true(cfg.verify_cot_signature)
      assert.are.equal(fx.root_url, cfg.taskcluster_root_url)
      assert.are.equal("http://127.0.0.1:41234/__mirror/projects.yml", cfg.project_configuration_url)
      assert.are.same({ hg = "http://127.0.0.1:41234/__mirror/hg",
        github_raw = "http://127.0.0.1:41234/__mirror/github_raw",
        github_api = "http://127.0.0.1:41234/__mirror/github_api" }, cfg.cot_input_urls)
      for _, impl in ipairs(IMPLS) do
        assert.are.equal(cot_chain.public_key(impl), sign.b64decode(cfg.ed25519_public_keys[impl][1]))
      end
      local rule = cfg.valid_artifact_rules[1]
      assert.are.same({ "http" }, rule.schemes)
      assert.are.same({ "127.0.0.1:41234" }, rule.netlocs)
      local m = regex.search(rule.path_regexes[1], "/api/queue/v1/task/" .. c.decision.id
        .. "/artifacts/public/chain-of-trust.json")
      assert.are.equal(c.decision.id, m.taskId)
      assert.are.equal("public/chain-of-trust.json", m.filepath)
      assert.is_table(regex.search(rule.path_regexes[1], "/api/queue/v1/task/x/runs/0/artifacts/y"))
      assert.are.equal("scriptworker-k8s", cfg.provisioner_id)
      assert.are.equal("mobile-3-pushapk", cfg.worker_type)
      assert.are.same({ "scriptworker-prov-v1", "scriptworker-k8s" }, cfg.scriptworker_provisioners)
      local own = cot_chain.build({ root_provisioner = "proj-releng", root_worker_type = "q7-signing" })
      assert.are.equal("proj-releng/q7-signing", own.root.taskQueueId)
      assert_valid(own)
      cfg = own:config(fx)
      assert.are.same({ "scriptworker-prov-v1", "scriptworker-k8s", "proj-releng" }, cfg.scriptworker_provisioners)
      assert.are.equal("proj-releng", cfg.provisioner_id)
      assert.are.equal("q7-signing", cfg.worker_type)
      -- the mirror paths the engine's cot_input_urls lead to
      local d = c.decision
      assert.is_string(c.mirror["/github_raw/mozilla-mobile/reference-browser/" .. d.rev .. "/.taskcluster.yml"])
      assert.is_string(c.mirror["/github_api/repos/mozilla-mobile/reference-browser/commits/" .. d.rev])
      local f = cot_chain.build({})
      local rev = f.decision.rev
      assert.is_string(f.mirror["/hg/mozilla-central/raw-file/" .. rev .. "/.taskcluster.yml"])
      assert.is_string(f.mirror["/hg/mozilla-central/json-pushes?changeset=" .. rev .. "&version=2&full=1"])
    end)
  end)
end)
