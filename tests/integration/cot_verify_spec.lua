-- The chain-of-trust engine (sw.cot.verify) end to end against the local
-- Queue: generated chains of many shapes pass (tests/cot_chain.lua), every
-- single tampering of cot_chain.TAMPERINGS is rejected naming the link and
-- the check, keys rotate by a policy edit alone, unreachable services give
-- intermittent-task, and no secret reaches the message or the log.
local support = require("support")
local support_queue = require("support_queue")
local cot_chain = require("cot_chain")
local config_mod = require("sw.config")
local fs = require("sw.fs")
local json = require("sw.json")
local queue = require("sw.queue")
local sched = require("sw.sched")
local sign = require("sw.sign")
local hash = require("sw.hash")
local verify = require("sw.cot.verify")

-- The engine reads tasks and public artifacts anonymously.
local ANONYMOUS = { "queue:get-artifact:public/*", "queue:get-task:*", "queue:list-artifacts:*" }

-- Per tampering: the chain key of the task whose `<name> <taskId>` the
-- message must name (default: the tampered task, chain.tampered.key) and a
-- Lua pattern of the check that must catch it.
local EXPECT = {
  action_callback_unknown = { check = "no action with callback release%-promotion%-evil in public/actions%.json" },
  artifact_bytes_changed = { check = "public/build/target%.tar%.gz: BAD HASH: sha256 is %x+, the chain of trust says" },
  artifact_missing = { check = "can't download public/build/target%.tar%.gz .*HTTP 404" },
  artifact_missing_from_cot = { check = "public/build/target%.tar%.gz is not in its chain%-of%-trust artifact" },
  body_edited_after_signing = { check = "public/chain%-of%-trust%.json is not signed by any of the %d+ trusted " ..
    "docker%-worker keys" },
  commit_msg_mismatch = { check = "GECKO_COMMIT_MSG \"try: .*\" doesn't match the push comment" },
  cot_missing = { check = "can't download public/chain%-of%-trust%.json .*HTTP 404" },
  cot_not_json = { check = "public/chain%-of%-trust%.json: invalid chain%-of%-trust JSON" },
  cot_schema_invalid = { check = "public/chain%-of%-trust%.json does not match the cot_v1 schema" },
  cot_task_differs = { check = "the embedded task definition differs from the one the Queue returns" },
  cot_task_id_mismatch = { check = "chain of trust artifact taskId \"[%w_-]+\" doesn't match task taskId" },
  decision_definition_edited = { check = "the runtime task doesn't match any rebuilt definition" },
  decision_pool_invalid = { check = "is not in valid_decision_worker_pools for firefox" },
  dependency_type_invalid = { who = "build", check = "invalid task type \"build0\"" },
  docker_image_pool_invalid = { check = "is not in valid_docker_image_worker_pools for firefox" },
  docker_task_without_features = { check = "payload%.features: the task definition is malformed" },
  graph_deps_mismatch = { check = "dependencies don't line up with .* task%-graph%.json" },
  graph_field_differs = { check = "payload differs! payload%.maxRunTime: graph 99999, task 7200" },
  graph_missing_task = { check = "Can't find task .* task%-graph%.json" },
  hash_alg_unknown = { check = "public/build/target%.tar%.gz: BAD HASH ALGORITHM \"md5\"" },
  hash_empty_map = { check = "public/build/target%.tar%.gz: the chain%-of%-trust entry lists no digest" },
  image_hash_mismatch = { check = "imageArtifactHash: docker sha doesn't match" },
  image_taskid_mismatch = { check = "docker%-image taskId isn't consistent" },
  indexed_image_restricted = { check = "indexed images are not usable for tasks with restricted scopes" },
  interactive_docker_task = { check = "interactive tasks are not allowed" },
  parent_artifact_changed = { check = "public/task%-graph%.json: BAD HASH" },
  parent_not_decision = { who = "build", check = "is not in valid_decision_worker_pools" },
  prebuilt_image_not_allowed = { check = "not allowed to use a prebuilt docker image" },
  rdp_generic_task = { check = "payload%.rdpInfo: RDP sessions are not allowed" },
  rdp_scope = { check = "RDP access is not allowed, got \"generic%-worker:allow%-rdp:" },
  restricted_scope_wrong_tree = { check = "not allowlisted for scope project:releng:balrog:server:release" },
  scriptworker_type_on_docker_worker = { check = "a signing task must be run from scriptworker, not docker%-worker" },
  sig_missing = { check = "can't download public/chain%-of%-trust%.json%.sig .*HTTP 404" },
  signed_by_wrong_key = { check = "public/chain%-of%-trust%.json is not signed by any of the %d+ trusted " ..
    "docker%-worker keys" },
  source_mismatch = { check = "GECKO_HEAD_REPOSITORY https://hg%.mozilla%.org/releases/mozilla%-release " ..
    "doesn't match source" },
  taskcluster_yml_missing = { check = "can't fetch %.taskcluster%.yml from .*: HTTP 404" },
  tasks_for_invalid = { check = "unknown tasks_for \"github%-push\": not in valid_tasks_for" },
  too_deep = { who = "build", check = "too deep recursion: the name has 21 levels, more than max_chain_length 20" },
  try_in_chain = { check = "is a try or pull request task" },
  untrusted_repo = { check = "doesn't match my repo /mozilla%-central" },
  upstream_path_absolute = { check = "upstreamArtifacts%[0%]%.paths%[0%]: \"/etc/passwd\" is an absolute path" },
  upstream_path_dotdot = { check = "payload%.upstreamArtifacts%[0%]%.paths%[0%]: \"[^\"]*\" contains \"%.%.\"" },
  upstream_wildcard_mandatory = { check = "has a wildcard in an entry that is not optional" },
  worker_impl_ambiguous = { check = "too many matches for the worker implementation: docker%-worker, generic%-worker" },
  worker_impl_none = { check = "can't find a worker_impl" },
  worker_impl_tag_unknown = { check = "\"taskcluster%-worker\" is not a worker implementation the policies define" },
}

-- A taskId as a Lua pattern (ids hold "-").
local function esc(s)
  return (s:gsub("%p", "%%%0"))
end

local sorted_keys = support.sorted_keys

-- Every file under dir, as paths relative to it.
local function files_under(dir)
  local out = {}
  for _, name in ipairs(fs.walk(dir) or {}) do
    out[name] = true
  end
  return out
end

describe("chain of trust verification against the Queue", function()
  local fx, tmp

  setup(function()
    fx = support_queue.start({ anonymous_scopes = ANONYMOUS })
    tmp = support.tmpdir()
  end)

  teardown(function()
    if fx then
      assert.are.equal(0, fx:stop().code)
    end
    if tmp then
      fs.rmtree(tmp)
    end
  end)

  local counter = 0

  -- Writes the chain's config (plus `extra`, json.null removing a key) and
  -- loads it as verify-cot does.
  local function load_config(chain, extra, dir)
    local over = chain:config(fx)
    -- the "has it landed" page of GitHub (VERIFY.md 8) from the mirror too:
    -- nothing reaches the network
    over.cot_input_urls.github = fx:mirror_url() .. "/github"
    for k, v in pairs(extra or {}) do
      over[k] = v ~= json.null and v or nil
    end
    local path = dir .. "/config.json"
    assert(fs.write_file_atomic(path, assert(json.encode(over))))
    local config, creds, info = config_mod.load_with_policy(path, { verify_only = true })
    assert(config, type(creds) == "table" and table.concat(creds, "\n") or tostring(creds))
    return config, info
  end

  -- Loads the chain into the Queue (unless o.loaded) and verifies its
  -- root. Returns {ok, msg, status, chain (the engine's), work_dir,
  -- log (the chain_of_trust.log text)}.
  local function check(chain, o)
    o = o or {}
    if not o.loaded then
      chain:load(fx)
    end
    counter = counter + 1
    local dir = tmp .. "/run-" .. counter
    assert(fs.mkdirp(dir))
    local config, info = load_config(chain, o.config, dir)
    config.work_dir = dir .. "/work"
    if o.before then
      o.before()
    end
    local ok, msg, status = sched.run(function()
      return verify.verify_chain({
        config = config,
        policy = info.policy,
        queue = queue.new({ root_url = config.taskcluster_root_url, retries = 1, backoff_base = 0.001 }),
        task_id = chain.root_task_id,
        task = chain.root,
        work_dir = config.work_dir,
        log_path = dir .. "/chain_of_trust.log",
        keys_from_config = info.keys_from_config,
        retry_delay = 0.01,
      })
    end)
    chain:cleanup()
    local r = { ok = ok, status = status, work_dir = config.work_dir, log = fs.read_file(dir .. "/chain_of_trust.log"),
      policy = info.policy }
    if ok then
      r.chain = msg
    else
      r.msg = msg
    end
    return r
  end

  local function assert_passes(r)
    assert.is_true(r.ok, tostring(r.msg) .. " (" .. tostring(r.status) .. ")")
  end

  -- The engine's links are exactly the generated chain's tasks but the
  -- root; work_dir/cot holds, per link, task.json (its Queue definition),
  -- the chain-of-trust artifact and signature and its type's artifacts,
  -- plus the root's upstreamArtifacts: nothing else, and each with the
  -- chain's bytes.
  local function assert_cot_dir(chain, r)
    local want_ids, got_ids = {}, {}
    for _, rec in ipairs(chain:links()) do
      want_ids[rec.id] = true
    end
    for _, l in ipairs(r.chain.links) do
      got_ids[l.task_id] = true
    end
    assert.are.same(want_ids, got_ids)
    local expected = {}
    for _, l in ipairs(r.chain.links) do
      expected[l.task_id .. "/task.json"] = "task"
      expected[l.task_id .. "/" .. cot_chain.COT_NAME] = l.task_id
      expected[l.task_id .. "/" .. cot_chain.SIG_NAME] = l.task_id
      for _, name in ipairs(r.policy.task_types[l.task_type].artifacts or {}) do
        expected[l.task_id .. "/" .. name] = l.task_id
      end
    end
    for _, u in ipairs(chain.root.payload.upstreamArtifacts) do
      for _, p in ipairs(u.paths) do
        expected[u.taskId .. "/" .. p] = u.taskId
      end
    end
    local root = r.work_dir .. "/cot"
    local got = files_under(root)
    assert.are.same(sorted_keys(expected), sorted_keys(got))
    for rel, owner in pairs(expected) do
      local bytes = assert(fs.read_file(root .. "/" .. rel))
      if owner == "task" then
        local id = rel:match("^([^/]+)/")
        local rec
        for _, x in ipairs(chain.tasks) do
          if x.id == id then
            rec = x
          end
        end
        assert.are.same(json.decode(assert(json.encode(rec.def))), json.decode(bytes))
      else
        local name = rel:sub(#owner + 2)
        assert.are.equal(chain:artifact(owner, name), bytes, rel)
      end
    end
  end

  local function assert_log_good(r)
    assert.is_string(r.log)
    assert.truthy(r.log:find("Running scriptworker version", 1, true))
    assert.truthy(r.log:find("policy set .* digest %x+"))
    assert.truthy(r.log:find("signature verified with", 1, true))
    assert.truthy(r.log:find("as a decision task...", 1, true))
    assert.truthy(r.log:find("INFO %- Good%.") or r.log:find("Good%."))
    assert.is_nil(r.log:find("ERROR", 1, true))
  end

  describe("valid chains", function()
    local SHAPES = {
      { name = "firefox hg-push", opts = {} },
      { name = "firefox cron", opts = { parent = "cron", root_type = "balrog" } },
      { name = "firefox action with restricted scopes", opts = { parent = "action", root_type = "beetmover",
        restricted = true } },
      { name = "firefox signing, generic-worker build and an older decision", opts = { root_type = "beetmover",
        shape = { signing = true, generic_build = true, old_decision = true } } },
      { name = "firefox with 5 more links", opts = { shape = { n_extra = 5 } } },
      { name = "mobile github-push", opts = { product = "mobile" } },
      { name = "mobile action, signing, restricted pushapk", opts = { product = "mobile", parent = "action",
        root_type = "pushapk", restricted = true, shape = { signing = true } } },
      { name = "app-services cron", opts = { product = "app-services", parent = "cron", root_type = "beetmover" } },
      { name = "app-services action without docker-image", opts = { product = "app-services", parent = "action",
        shape = { docker_image = false } } },
    }
    for _, s in ipairs(SHAPES) do
      it("passes: " .. s.name, function()
        local chain = cot_chain.build(s.opts)
        local r = check(chain)
        assert_passes(r)
        assert.are.equal(chain.root_task_id, r.chain.root.task_id)
        assert_cot_dir(chain, r)
        assert_log_good(r)
        for _, l in ipairs(r.chain.links) do
          assert.truthy(r.log:find(l.task_id, 1, true), l.name)
        end
      end)
    end

    it("removes an optional upstream artifact that fails its hash, and passes", function()
      local chain = cot_chain.build({})
      local build = chain:task("build")
      local name = "public/build/optional.txt"
      build.artifacts[#build.artifacts + 1] = { name = name, bytes = "the bytes the build made\n" }
      local ups = chain.root_rec.def.payload.upstreamArtifacts
      ups[#ups + 1] = json.object({ taskId = build.id, taskType = "build", paths = json.array({ name }),
        optional = true })
      chain:seal()
      chain.root = chain.root_rec.def
      -- replaced in the Queue after its chain-of-trust artifact was made
      chain.artifacts[build.id][name] = "bytes nobody verified\n"
      local r = check(chain)
      assert_passes(r)
      local cot = r.work_dir .. "/cot/" .. build.id
      assert.is_false(fs.exists(cot .. "/" .. name))
      assert.are.equal(chain:artifact(build.id, build.out), fs.read_file(cot .. "/" .. build.out))
      assert.truthy(r.log:find(name, 1, true))
    end)
  end)

  -- Replaces (bytes) or removes (nil) an artifact of rec after sealing,
  -- then makes its chain-of-trust artifact agree (edit(body) may change it
  -- further) and signs it again with the test key: only the check aimed at
  -- sees the change.
  local function reseal(chain, rec, name, bytes, edit)
    local arts = chain.artifacts[rec.id]
    local body = chain.cot[rec.id]
    if name then
      arts[name] = bytes
      body.artifacts[name] = json.object({ sha256 = hash.string(bytes, "sha256") })
    end
    if edit then
      edit(body)
    end
    local text = assert(json.encode(body, { canonical = true }))
    local seed = assert(fs.read_file(cot_chain.KEY_DIR .. "/" .. rec.impl .. "_private_key")):gsub("%s", "")
    arts[cot_chain.COT_NAME] = text
    arts[cot_chain.SIG_NAME] = assert(sign.signer(assert(sign.b64decode(seed)))):sign(text)
  end

  local function assert_refused(r, pattern)
    assert.is_nil(r.ok)
    assert.are.equal("malformed-payload", r.status)
    assert.matches(pattern, r.msg)
  end

  describe("more catalogue entries", function()
    it("#4 refuses a root that two worker implementations claim", function()
      local chain = cot_chain.build({})
      chain.root_rec.def.payload.mounts = json.array({})
      chain:seal()
      chain.root = chain.root_rec.def
      local r = check(chain)
      assert_refused(r, "^signing " .. esc(chain.root_task_id) ..
        ": too many matches for the worker implementation: generic%-worker, scriptworker")
    end)

    it("#8 refuses an upstreamArtifacts entry without taskId or taskType", function()
      for _, field in ipairs({ "taskId", "taskType" }) do
        local chain = cot_chain.build({})
        chain.root_rec.def.payload.upstreamArtifacts[1][field] = nil
        chain:seal()
        chain.root = chain.root_rec.def
        local r = check(chain)
        assert_refused(r, "^signing " .. esc(chain.root_task_id) .. ": payload%.upstreamArtifacts%[0%]%." .. field)
      end
    end)

    it("#13 refuses artifact URLs that valid_artifact_rules do not allow", function()
      local chain = cot_chain.build({})
      local rules = json.array({ json.object({
        schemes = json.array({ "https" }),
        netlocs = json.array({ "firefox-ci-tc.services.mozilla.com" }),
        path_regexes = json.array({ cot_chain.ARTIFACT_PATH_REGEX }),
      }) })
      local r = check(chain, { config = { valid_artifact_rules = rules } })
      assert_refused(r, "^signing:[%w:%-]+ [%w_-]+: public/chain%-of%-trust%.json%S*: can't validate url " ..
        "http://127%.0%.0%.1:%d+/api/queue/v1/task/[%w_-]+/artifacts/public%%2Fchain%-of%-trust%.json%S* against " ..
        "valid_artifact_rules")
    end)

    it("#16 refuses a link whose worker implementation has no public key", function()
      local chain = cot_chain.build({})
      local keys = cot_chain.public_keys()
      keys["docker-worker"] = json.array({})
      local r = check(chain, { config = { ed25519_public_keys = keys } })
      assert_refused(r, "^signing:[%w:%-]+ [%w_-]+: signature: no ed25519 public keys for worker implementation " ..
        "docker%-worker$")
    end)

    it("#26 refuses a chain-of-trust body without artifacts (the cot_v1 schema)", function()
      local chain = cot_chain.build({})
      local build = chain:task("build")
      reseal(chain, build, nil, nil, function(body)
        body.artifacts = nil
      end)
      local r = check(chain)
      assert_refused(r, "^signing:build " .. esc(build.id) .. ": public/chain%-of%-trust%.json does not match the " ..
        "cot_v1 schema: .*artifacts")
    end)

    it("#25 refuses a decision whose task-graph.json is missing from its chain-of-trust artifact", function()
      local chain = cot_chain.build({})
      local d = chain:task("decision")
      reseal(chain, d, nil, nil, function(body)
        body.artifacts["public/task-graph.json"] = nil
      end)
      local r = check(chain)
      assert_refused(r, "^signing:parent " .. esc(d.id) ..
        ": public/task%-graph%.json is not in its chain%-of%-trust artifact")
    end)

    it("#30 refuses a decision whose task-graph.json the Queue does not have", function()
      local chain = cot_chain.build({})
      local d = chain:task("decision")
      chain.artifacts[d.id]["public/task-graph.json"] = nil
      local r = check(chain)
      assert_refused(r, "^signing:parent " .. esc(d.id) .. ": can't download public/task%-graph%.json .*HTTP 404")
    end)

    it("#31 refuses a decision whose task-graph.json is not JSON, though its digest holds", function()
      local chain = cot_chain.build({})
      local d = chain:task("decision")
      reseal(chain, d, "public/task-graph.json", "{ this is not json")
      local r = check(chain)
      assert_refused(r, "^signing:parent " .. esc(d.id) .. ": can't load public/task%-graph%.json: line 1 column %d+")
    end)

    it("#77 refuses an unknown cot_product and verify_chain_of_trust without one", function()
      local chain = cot_chain.build({})
      local dir = tmp .. "/config-77"
      assert(fs.mkdirp(dir))
      for _, c in ipairs({ { "netscape", "cot_product" }, { json.null, "cot_product: must be set" } }) do
        local over = chain:config(fx)
        over.cot_product = c[1] ~= json.null and c[1] or nil
        local path = dir .. "/config.json"
        assert(fs.write_file_atomic(path, assert(json.encode(over))))
        local config, errs = config_mod.load_with_policy(path, { verify_only = true })
        assert.is_nil(config)
        assert.matches(c[2], table.concat(errs, "\n"))
      end
    end)
  end)

  describe("key rotation by a policy edit alone", function()
    local function policy_copy()
      counter = counter + 1
      local dir = tmp .. "/policies-" .. counter
      assert(os.execute(string.format("cp -r '%s/policies' '%s'", support.root, dir)))
      return dir
    end

    -- Adds (or removes) the test key of each implementation to the keys
    -- of worker_impls/<impl>.lua, keeping the production keys.
    local function edit_keys(dir, add)
      for _, impl in ipairs(cot_chain.IMPLS) do
        local path = dir .. "/worker_impls/" .. impl .. ".lua"
        local text = assert(fs.read_file(path))
        local key = (assert(fs.read_file(cot_chain.KEY_DIR .. "/" .. impl .. "_public_key")):gsub("%s", ""))
        local line = string.format('\n    "%s", -- test key\n', key)
        local n
        if add then
          text, n = text:gsub("\n  keys = {\n", "\n  keys = {" .. line, 1)
        else
          text, n = text:gsub(line:gsub("%p", "%%%0"), "\n", 1)
        end
        assert.are.equal(1, n, path)
        assert(fs.write_file_atomic(path, text))
      end
    end

    it("passes with the test keys added to a copy of policies/, fails without them", function()
      local dir = policy_copy()
      edit_keys(dir, true)
      local chain = cot_chain.build({ shape = { signing = true, generic_build = true } })
      chain:load(fx)
      local r = check(chain, { loaded = true, config = { ed25519_public_keys = json.null, policy_dir = dir } })
      assert_passes(r)
      assert.truthy(r.log:find("signature verified with scriptworker key", 1, true))
      assert.truthy(r.log:find("signature verified with generic-worker key", 1, true))

      -- the shipped policies hold the production keys only
      r = check(chain, { loaded = true, config = { ed25519_public_keys = json.null } })
      assert.is_nil(r.ok)
      assert.are.equal("malformed-payload", r.status)
      assert.matches("signature: public/chain%-of%-trust%.json is not signed by any of the %d+ trusted", r.msg)

      -- the key removed again from the copy
      edit_keys(dir, false)
      r = check(chain, { loaded = true, config = { ed25519_public_keys = json.null, policy_dir = dir } })
      assert.is_nil(r.ok)
      assert.are.equal("malformed-payload", r.status)
      assert.matches("is not signed by any of the %d+ trusted", r.msg)
    end)
  end)

  describe("an instance policy's own rule", function()
    it("gets the chain and ctx's pure helpers, and its refusal fails the chain", function()
      counter = counter + 1
      local dir = tmp .. "/policies-" .. counter
      assert(os.execute(string.format("cp -r '%s/policies' '%s'", support.root, dir)))
      -- The rule refuses every chain, with what the helpers answered.
      local text = assert(fs.read_file(dir .. "/signing.lua"))
      text = text:gsub('cot_job_type = "signing",\n', [[
cot_job_type = "signing",
  verify = function(chain, ctx)
    local u = assert(ctx.parse_url(chain.root.task.metadata.source))
    local m = ctx.regex_search("^/([^/]+)", u.path)
    return nil, string.format("seen %%s %%s %%s %%s %%s %%d", u.scheme, u.hostname, m and m[1] or "-",
      tostring(ctx.json_equal({ 1, { a = ctx.null } }, { 1, { a = ctx.null } })),
      tostring(ctx.json_equal({}, { a = 1 })), #chain.links)
  end,
]], 1)
      assert(fs.write_file_atomic(dir .. "/signing.lua", text))
      local chain = cot_chain.build({ shape = { signing = true, generic_build = true } })
      local r = check(chain, { config = { policy_dir = dir } })
      assert.is_nil(r.ok)
      assert.are.equal("malformed-payload", r.status)
      local u = assert(require("sw.url").parse(chain.root.metadata.source))
      local want = string.format("instance policy signing: seen %s %s %s true false ", u.scheme, u.hostname,
        u.path:match("^/([^/]+)") or "-")
      local at = r.msg:find(want, 1, true)
      assert.truthy(at, r.msg .. " (wanted " .. want .. ")")
      -- the signing task's upstream build, its decision task and more
      assert.is_true(tonumber(r.msg:sub(at + #want):match("^%d+")) >= 2, r.msg)
    end)
  end)

  describe("tamperings", function()
    it("has an expectation for every tampering of cot_chain", function()
      assert.are.same(sorted_keys(cot_chain.TAMPERINGS), sorted_keys(EXPECT))
    end)

    for _, name in ipairs(sorted_keys(cot_chain.TAMPERINGS)) do
      local t = cot_chain.TAMPERINGS[name]
      local catalogue = table.concat(t.catalogue or {}, ", #")
      it(string.format("rejects %s (VERIFY.md #%s)", name, catalogue ~= "" and catalogue or "-"), function()
        local e = assert(EXPECT[name], "no expectation for " .. name)
        local chain = cot_chain.build_tampered(name)
        local r = check(chain)
        assert.is_nil(r.ok)
        assert.are.equal("malformed-payload", r.status)
        assert.is_string(r.msg)
        local rec = assert(chain:task(e.who or chain.tampered.key), "no task " .. tostring(e.who))
        local link = r.msg:match("([%w:%-]+) " .. rec.id:gsub("%p", "%%%0"))
        assert.is_string(link, "the message does not name " .. rec.key .. " " .. rec.id .. ": " .. r.msg)
        assert.are.equal(chain.root_type, link:match("^[^:]+"), r.msg)
        assert.matches(e.check, r.msg)
        assert.truthy(r.log:find("Chain of Trust verification error!", 1, true))
        assert.is_nil(r.log:find("Good.", 1, true))
      end)
    end
  end)

  describe("unreachable services", function()
    local function with_faults(rules, fn)
      fx:set_faults({ seed = 1, rules = rules })
      local ok, err = pcall(fn)
      fx:set_faults({ rules = {} })
      assert(ok, err)
    end

    it("gives intermittent-task when getLatestArtifact answers 503", function()
      local chain = cot_chain.build({})
      chain:load(fx)
      with_faults({ getLatestArtifact = { errorRate = 1, errorStatus = 503 } }, function()
        local r = check(chain, { loaded = true })
        assert.are.equal("intermittent-task", r.status)
        assert.matches("can't download public/chain%-of%-trust%.json.*503", r.msg)
      end)
    end)

    it("gives intermittent-task when the artifact storage answers 503", function()
      local chain = cot_chain.build({})
      chain:load(fx)
      with_faults({ download = { errorRate = 1, errorStatus = 503 } }, function()
        local r = check(chain, { loaded = true })
        assert.are.equal("intermittent-task", r.status)
        assert.matches("can't download", r.msg)
      end)
    end)

    it("gives intermittent-task when the mirror answers 503", function()
      local chain = cot_chain.build({})
      chain:load(fx)
      with_faults({ mirror = { errorRate = 1, errorStatus = 503 } }, function()
        local r = check(chain, { loaded = true })
        assert.are.equal("intermittent-task", r.status)
        assert.matches("%.taskcluster%.yml.*HTTP 503", r.msg)
      end)
    end)

    it("gives intermittent-task when the Queue refuses connections", function()
      local chain = cot_chain.build({})
      chain:load(fx)
      local r = check(chain, { loaded = true, before = function()
        fx:refuse(1500)
      end })
      assert.are.equal("intermittent-task", r.status, r.msg)
      -- the Queue listens again before the next test
      sched.run(function()
        sched.sleep(1.6)
      end)
      assert.is_true(fx:stats().tasks ~= nil)
    end)

    it("gives malformed-payload when getLatestArtifact answers 404", function()
      local chain = cot_chain.build({})
      chain:load(fx)
      with_faults({ getLatestArtifact = { errorRate = 1, errorStatus = 404 } }, function()
        local r = check(chain, { loaded = true })
        assert.are.equal("malformed-payload", r.status)
        assert.matches("HTTP 404", r.msg)
      end)
    end)
  end)

  describe("secrets", function()
    local TOKEN = "ghp_" .. string.rep("S3cr3tT0k3n", 3)

    it("never puts the GitHub token in the message or the log", function()
      -- a GitHub product, so the token goes with the API calls
      local chain = cot_chain.build({ product = "mobile" })
      local r = check(chain, { config = { github_oauth_token = TOKEN } })
      assert_passes(r)
      assert.is_nil(r.log:find(TOKEN, 1, true))

      -- a failure whose message quotes a value holding the token
      chain = cot_chain.build({ product = "mobile" })
      chain.root_rec.def.payload.upstreamArtifacts[1].paths[1] = "/" .. TOKEN
      chain:seal()
      chain.root = chain.root_rec.def
      r = check(chain, { config = { github_oauth_token = TOKEN } })
      assert.are.equal("malformed-payload", r.status)
      assert.matches("is an absolute path", r.msg)
      assert.is_nil(r.msg:find(TOKEN, 1, true))
      assert.is_nil(r.log:find(TOKEN, 1, true))
    end)
  end)
end)
