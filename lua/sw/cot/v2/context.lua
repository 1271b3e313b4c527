-- sw.cot.v2.context: the json-e context and template that rebuild a
-- decision, cron or action task, per tasks_for and product type, as the
-- Python scriptworker builds them (cot/VERIFY.md section 7).
--
-- Every function takes the state S of one verification:
--   S.task_id, S.task          the task being rebuilt (the "parent")
--   S.decision_task_id, S.decision   its decision task (taskGroupId)
--   S.config                   the resolved worker config
--   S.inputs, S.cache          where remote inputs come from (sw.cot.v2.fetch)
--   S.tasks_for                checked against valid_tasks_for
local json = require("sw.json")
local jsone = require("sw.jsone")
local common = require("sw.cot.v2.common")
local fetch = require("sw.cot.v2.fetch")
local compare = require("sw.cot.v2.compare")
local secrets = require("sw.secrets")

local M = {}

local type, pairs, ipairs, tostring, format = type, pairs, ipairs, tostring, string.format
local math_type = math.type
local null, object = json.null, json.object
local fail, env, dig, or_null = common.fail, common.env, common.dig, common.or_null
local is_object, is_array = common.is_object, common.is_array

local function prefix(S)
  return S.config.source_env_prefix
end

-- Required decision environment ------------------------------------------

-- "decision task <id>: ", for messages about the decision's env.
local function dwho(S)
  return "decision task " .. S.decision_task_id .. ": "
end

local function need(v, S, task_name, key)
  if v == nil then
    fail("input", "%s task %s: payload.env.%s is missing", task_name,
      task_name == "decision" and S.decision_task_id or S.task_id, key)
  end
  return v
end

local function decision_repo(S)
  return need(common.head_repository(S.decision, prefix(S), dwho(S)), S, "decision",
    prefix(S) .. "_HEAD_REPOSITORY")
end

local function decision_rev(S)
  return need(common.head_rev(S.decision, prefix(S), dwho(S)), S, "decision",
    prefix(S) .. "_HEAD_REV")
end

-- Revisions go into URLs: only plain hexadecimal hg changesets, and git
-- commits or tag names without "..", are accepted (Python takes anything).
local function check_hg_rev(S, rev)
  if not rev:find("^%x+$") or #rev < 12 or #rev > 40 then
    fail("input", "decision task %s: %s_HEAD_REV %s is not an hg changeset id",
      S.decision_task_id, prefix(S), json.encode(rev))
  end
end

local function check_git_rev(S, rev)
  if not rev:find("^[%w][%w._/+-]*$") or rev:find("..", 1, true) or rev:find("//", 1, true) then
    fail("input", "decision task %s: %s_HEAD_REV %s is not a git commit or tag name",
      S.decision_task_id, prefix(S), json.encode(rev))
  end
end

-- hg repository URLs: https://hg.mozilla.org/<segments>, each segment
-- letters, digits, "-", "_" or ".", no query or fragment.
local function check_hg_repo(S, u, repo)
  local ok = u.scheme == "https" and u.query == "" and u.fragment == "" and u.path ~= ""
  for seg in (u.path:sub(2) .. "/"):gmatch("([^/]*)/") do
    if not seg:find("^[%w_.-]+$") or seg == "." or seg == ".." then
      ok = false
    end
  end
  if not ok then
    fail("input", "decision task %s: %s_HEAD_REPOSITORY %s is not an https://hg.mozilla.org/ repository URL",
      S.decision_task_id, prefix(S), repo)
  end
end

-- metadata.source ----------------------------------------------------------

-- get_source_url (VERIFY.md section 8): metadata.source, after checking it
-- belongs to the task's HEAD_REPOSITORY (enterprise: COMM_ first).
function M.source_url(S, task, who, task_id)
  local source = dig(task, "metadata", "source")
  if type(source) ~= "string" then
    fail("input", "%s task %s: metadata.source is missing", who, task_id)
  end
  local p = prefix(S)
  local label = p .. "_HEAD_REPOSITORY"
  local tw = who .. " task " .. task_id .. ": "
  local repo = common.head_repository(task, p, tw)
  if S.config.cot_product == "enterprise" then
    local comm = common.head_repository(task, "COMM", tw)
    if comm then
      repo, label = comm, "COMM_HEAD_REPOSITORY"
    end
  end
  if repo and not common.repo_matches_url(repo, source) then
    fail("input", "%s task %s: %s %s doesn't match metadata.source %s", who, task_id, label, repo, source)
  end
  return source
end

-- projects.yml -------------------------------------------------------------

local function projects(S)
  if S.projects then
    return S.projects
  end
  local urls = S.inputs.urls
  local url = type(urls) == "table" and urls.projects or S.config.project_configuration_url
  if type(url) ~= "string" or url == "" then
    fail("config", "project_configuration_url is not set")
  end
  S.projects, S.projects_url = fetch.mapping(S, url, "projects.yml")
  return S.projects
end

-- The project whose repo is the source URL or a prefix of it followed by
-- "/". Python takes the first in file order; we refuse several matches.
function M.project_for_source(S, source)
  local all = projects(S)
  local found = {}
  for name, cfg in pairs(all) do
    local repo = is_object(cfg) and cfg.repo
    if type(repo) == "string" and repo ~= "" and
        (source == repo or source:sub(1, #repo + 1) == repo .. "/") then
      found[#found + 1] = name
    end
  end
  table.sort(found)
  if #found == 0 then
    fail("input", "decision task %s: metadata.source %s matches no repo in projects.yml (%s)",
      S.decision_task_id, source, S.projects_url)
  elseif #found > 1 then
    fail("input", "decision task %s: metadata.source %s matches several projects in projects.yml: %s",
      S.decision_task_id, source, table.concat(found, ", "))
  end
  return found[1]
end

local function level_string(v)
  if math_type(v) == "integer" then
    return format("%d", v)
  elseif type(v) == "string" then
    return v
  end
  return nil
end

-- get_scm_level: hg projects: `access` without "scm_level_"; git
-- projects: the level of the branch named default_branch (default main).
function M.scm_level(S, project)
  local cfg = projects(S)[project]
  if not is_object(cfg) then
    fail("input", "project %s is not in projects.yml (%s)", project, S.projects_url)
  end
  if cfg.repo_type == "hg" then
    if type(cfg.access) ~= "string" then
      fail("input", "projects.yml: project %s has no access level", project)
    end
    return (cfg.access:gsub("scm_level_", ""))
  elseif cfg.repo_type == "git" then
    local default = cfg.default_branch
    if default == nil or default == null then
      default = "main"
    end
    if is_array(cfg.branches) then
      for _, b in ipairs(cfg.branches) do
        if is_object(b) and b.name == default and level_string(b.level) then
          return level_string(b.level)
        end
      end
    end
    fail("input", "projects.yml: project %s has no level for its default branch %s", project, tostring(default))
  end
  fail("input", "projects.yml: project %s has repo_type %s, not hg or git", project,
    json.encode(cfg.repo_type) or "?")
end

-- hg pushlog ---------------------------------------------------------------

-- Python's str.format with only {repo} and {revision} ({{ and }} escape).
local function format_pushlog_url(template, fields)
  if type(template) ~= "string" then
    fail("config", "pushlog_url is not a string")
  end
  local bad
  local out = template:gsub("{{", "\1"):gsub("}}", "\2"):gsub("{([^{}]*)}", function(name)
    local v = fields[name]
    if v == nil then
      bad = name
      return ""
    end
    return v
  end)
  if bad or out:find("[{}]") then
    fail("config", "pushlog_url %s: only {repo} and {revision} can be used", template)
  end
  return (out:gsub("\1", "{"):gsub("\2", "}"))
end

-- The decision's push: {id, date, user, comment, base_revision}. Unlike
-- Python (which warns and takes the first), the pushlog must hold exactly
-- one push.
function M.push_info(S)
  local repo, rev = decision_repo(S), decision_rev(S)
  check_hg_rev(S, rev)
  local url = format_pushlog_url(S.config.pushlog_url, { repo = repo, revision = rev })
  local log = fetch.json(fetch.text(S, url, "the pushlog"), "the pushlog", url)
  local pushes = is_object(log) and log.pushes
  if not is_object(pushes) then
    fail("input", "the pushlog from %s has no pushes", url)
  end
  local id, push, count = nil, nil, 0
  for k, v in pairs(pushes) do
    id, push, count = k, v, count + 1
  end
  if count ~= 1 then
    fail("input", "the pushlog from %s has %d pushes for %s, expected exactly one", url, count, rev)
  end
  local changesets = is_object(push) and push.changesets
  if not is_array(changesets) or #changesets == 0 then
    fail("input", "the pushlog from %s: push %s has no changesets", url, id)
  end
  local first, last = changesets[1], changesets[#changesets]
  local parents = is_object(first) and first.parents
  if not is_array(parents) or type(parents[1]) ~= "string" then
    fail("input", "the pushlog from %s: push %s: changesets[0].parents[0] is missing", url, id)
  end
  local comment = is_object(last) and last.desc
  if type(comment) ~= "string" then
    fail("input", "the pushlog from %s: push %s: changesets[%d].desc is missing", url, id, #changesets - 1)
  end
  if type(push.user) ~= "string" then
    fail("input", "the pushlog from %s: push %s has no user", url, id)
  end
  if type(push.date) ~= "number" then
    fail("input", "the pushlog from %s: push %s has no date", url, id)
  end
  return { id = id, date = push.date, user = push.user, comment = comment, base_revision = parents[1],
    revision = rev }
end

-- Contexts -----------------------------------------------------------------

local function base_context(S)
  local created = S.task.created
  if type(created) ~= "string" then
    fail("input", "created is missing")
  end
  local ids = { decision = S.decision_task_id }
  local own = S.task_id
  return object({
    now = created,
    as_slugid = function(name)
      return ids[name] or own
    end,
    tasks_for = S.tasks_for,
    ownTaskId = own,
    taskId = null,
  })
end

-- extra.action.context merged into ctx (its keys override).
local function merge_action_context(S, ctx)
  local action = dig(S.task, "extra", "action")
  if not is_object(action) then
    fail("input", "extra.action is missing")
  end
  local actx = action.context
  if not is_object(actx) then
    fail("input", "extra.action.context is missing")
  end
  for k, v in pairs(actx) do
    ctx[k] = compare.copy(v)
  end
end

local function hg_context(S, ctx)
  local source = M.source_url(S, S.decision, "decision", S.decision_task_id)
  local project = M.project_for_source(S, source)
  ctx.repository = object({
    url = decision_repo(S),
    level = M.scm_level(S, project),
    project = project,
  })
  local tf = S.tasks_for
  if tf == "action" then
    merge_action_context(S, ctx)
    local name = "public/parameters.yml"
    ctx.parameters = fetch.yaml(fetch.artifact(S, S.decision_task_id, name), name,
      "decision task " .. S.decision_task_id)
    ctx.task = null
  elseif tf == "hg-push" then
    local info = M.push_info(S)
    local comment = env(S.decision, "GECKO_COMMIT_MSG", dwho(S)) or " "
    local allowed = { [" "] = true }
    local i = info.comment:find("try:", 1, true)
    if i then
      allowed[info.comment:sub(i):match("^[^\n]*")] = true
    end
    if not allowed[comment] then
      fail("input", "decision task %s: payload.env.GECKO_COMMIT_MSG %s doesn't match the push comment %s",
        S.decision_task_id, json.encode(comment), json.encode(info.comment))
    end
    ctx.push = object({
      base_revision = info.base_revision,
      revision = info.revision,
      comment = comment,
      owner = info.user,
      pushlog_id = info.id,
      pushdate = info.date,
    })
    ctx.repository.type = "hg"
  elseif tf == "cron" then
    ctx.cron = M.cron(S.task, "task", S.task_id)
    local info = M.push_info(S)
    ctx.push = object({
      base_revision = info.base_revision,
      revision = info.revision,
      comment = "",
      owner = "cron",
      pushlog_id = info.id,
      pushdate = info.date,
    })
    ctx.repository.type = "hg"
  else
    fail("tasks_for", "unknown tasks_for %s for hg product %s", json.encode(tf), tostring(S.config.cot_product))
  end
end

function M.cron(task, who, task_id)
  local text = dig(task, "extra", "cron")
  if type(text) ~= "string" then
    fail("input", "%s %s: extra.cron is missing", who, task_id)
  end
  local v, err = json.decode(text)
  if v == nil then
    fail("parse", "%s %s: extra.cron is not valid JSON: %s", who, task_id, tostring(err))
  end
  return v
end

-- GitHub API ---------------------------------------------------------------

local function token(S)
  local t = S.config.github_oauth_token
  if type(t) == "string" and t ~= "" then
    secrets.add(t)
    return t
  end
  return nil
end

local function github_api(S, owner, name, path, what)
  local url = format("%s/repos/%s/%s%s", fetch.CANONICAL.github_api, owner, name, path)
  local headers = { Accept = "application/vnd.github+json" }
  local t = token(S)
  if t then
    headers.Authorization = "token " .. t
  end
  local v = fetch.json(fetch.text(S, url, what, headers), what, fetch.rebase(S.inputs, url))
  if not is_object(v) then
    fail("input", "%s from %s is not an object", what, fetch.rebase(S.inputs, url))
  end
  return v
end

local function github_repo(S)
  local repo = decision_repo(S)
  local owner, name = common.github_owner_and_name(repo, "decision task " .. S.decision_task_id .. ": "
    .. prefix(S) .. "_HEAD_REPOSITORY")
  return repo, owner, name
end

local function github_release(S, ctx)
  local repo, owner, name = github_repo(S)
  local tag = decision_rev(S)
  check_git_rev(S, tag)
  local what = "the GitHub release " .. tag
  local release = github_api(S, owner, name, "/releases/tags/" .. common.encode_component(tag), what)
  local login = dig(release, "author", "login")
  if release.target_commitish == nil or release.published_at == nil or login == nil then
    fail("input", "%s of %s/%s lacks target_commitish, published_at or author.login", what, owner, name)
  end
  ctx.event = object({
    action = "published",
    repository = object({
      clone_url = repo .. ".git",
      full_name = owner .. "/" .. name,
      html_url = repo,
      name = name,
    }),
    release = object({
      tag_name = tag,
      target_commitish = release.target_commitish,
      published_at = release.published_at,
    }),
    sender = object({ login = login }),
  })
end

local function git_cron(S, ctx)
  local repo, owner, name = github_repo(S)
  local p = prefix(S)
  local rev = decision_rev(S)
  local branch = common.head_branch(S.decision, p, dwho(S))
  ctx.cron = M.cron(S.decision, "decision task", S.decision_task_id)
  ctx.event = object({
    repository = object({
      clone_url = repo,
      full_name = owner .. "/" .. name,
      html_url = repo,
      name = name,
    }),
    release = object({
      tag_name = rev,
      target_commitish = or_null(branch),
      published_at = or_null(common.push_date_time(S.decision, p, dwho(S))),
    }),
    sender = object({ login = common.triggered_by(S.decision, p, dwho(S)) or "TaskclusterHook" }),
  })
  ctx.repository = object({ url = repo, project = name, level = M.scm_level(S, name), type = "git" })
  ctx.push = object({ revision = rev, branch = or_null(branch) })
end

local function github_pull_request(S, ctx)
  local p = prefix(S)
  local who = dwho(S)
  local head = common.normalise_git_url(decision_repo(S))
  local base = common.base_repository(S.decision, p, who)
  base = base and common.normalise_git_url(base)
  local owner, name = common.github_owner_and_name(head, "decision task " .. S.decision_task_id .. ": "
    .. p .. "_HEAD_REPOSITORY")
  local number_text = need(env(S.decision, p .. "_PULL_REQUEST_NUMBER", who), S, "decision",
    p .. "_PULL_REQUEST_NUMBER")
  local number = number_text:match("^%s*%+?(%d+)%s*$")
  number = number and math.tointeger(tonumber(number))
  if not number then
    fail("input", "decision task %s: payload.env.%s_PULL_REQUEST_NUMBER %s is not an integer",
      S.decision_task_id, p, json.encode(number_text))
  end
  local definition = github_api(S, owner, name, "", "the GitHub repository " .. owner .. "/" .. name)
  if definition.fork == true and base ~= head then
    local po, pn = dig(definition, "parent", "owner", "login"), dig(definition, "parent", "name")
    if type(po) ~= "string" or type(pn) ~= "string" or not po:find("^[%w_.-]+$") or not pn:find("^[%w_.-]+$") then
      fail("input", "the GitHub repository %s/%s is a fork without a valid parent", owner, name)
    end
    owner, name = po, pn
  end
  local pr = github_api(S, owner, name, format("/pulls/%d", number),
    format("the GitHub pull request %s/%s#%d", owner, name, number))
  if not is_object(pr.head) or not is_object(pr.base) then
    fail("input", "the GitHub pull request %s/%s#%d has no head or base", owner, name, number)
  end
  pr.head.updated_at = or_null(common.push_date_time(S.decision, p, who))
  pr.base.sha = or_null(common.base_rev(S.decision, p, who))
  pr.head.sha = decision_rev(S)
  ctx.event = object({
    action = "synchronize",
    repository = or_null(pr.base.repo),
    pull_request = pr,
    sender = object({ login = or_null(dig(pr, "head", "user", "login")) }),
  })
end

local function github_push(S, ctx)
  local p = prefix(S)
  local who = dwho(S)
  local repo = common.normalise_git_url(decision_repo(S))
  local owner, name = common.github_owner_and_name(repo, "decision task " .. S.decision_task_id .. ": "
    .. p .. "_HEAD_REPOSITORY")
  local sha = decision_rev(S)
  check_git_rev(S, sha)
  local commit = github_api(S, owner, name, "/commits/" .. sha, "the GitHub commit " .. sha)
  local login = dig(commit, "committer", "login")
  if login == nil or login == "web-flow" then
    local author = commit.author
    if is_object(author) and author.login ~= nil then
      login = author.login
    else
      login = dig(commit, "commit", "author", "login") or "@@@unknown@@@"
    end
  end
  ctx.event = object({
    before = or_null(common.base_rev(S.decision, p, who)),
    after = sha,
    pusher = object({ email = or_null(dig(S.decision, "metadata", "owner")) }),
    base_ref = or_null(common.base_branch(S.decision, p, who)),
    ref = or_null(common.head_branch(S.decision, p, who)),
    repository = object({
      full_name = owner .. "/" .. name,
      ssh_url = format("git@github.com:%s/%s.git", owner, name),
      html_url = repo,
      name = name,
      pushed_at = or_null(common.push_date_time(S.decision, p, who)),
    }),
    sender = object({ login = or_null(login) }),
  })
end

local function github_context(S, ctx)
  local tf = S.tasks_for
  if tf == "github-release" then
    github_release(S, ctx)
  elseif tf == "cron" then
    git_cron(S, ctx)
  elseif tf == "action" or tf == "pr-action" then
    merge_action_context(S, ctx)
  elseif tf == "github-pull-request" or tf == "github-pull-request-untrusted" then
    github_pull_request(S, ctx)
  elseif tf == "github-push" then
    github_push(S, ctx)
  else
    fail("tasks_for", "unknown tasks_for %s for GitHub product %s", json.encode(tf),
      tostring(S.config.cot_product))
  end
end

-- populate_jsone_context: the context for S.tasks_for.
function M.populate(S)
  local ctx = base_context(S)
  local kind = S.config.cot_product_type
  if kind == "github" then
    github_context(S, ctx)
  elseif kind == "hg" then
    hg_context(S, ctx)
  else
    fail("config", "unknown cot_product_type %s for cot_product %s", json.encode(kind) or "?",
      tostring(S.config.cot_product))
  end
  return ctx
end

-- .taskcluster.yml -----------------------------------------------------------

-- build_taskcluster_yml_url: the template at the decision's revision.
function M.taskcluster_yml_url(S)
  local repo = common.normalise_git_url(decision_repo(S))
  local rev = decision_rev(S)
  local u = common.parse_url(repo)
  if u and u.netloc == "github.com" then
    local owner, name = common.github_owner_and_name(repo, "decision task " .. S.decision_task_id .. ": "
      .. prefix(S) .. "_HEAD_REPOSITORY")
    check_git_rev(S, rev)
    return format("%s/%s/%s/%s/.taskcluster.yml", fetch.CANONICAL.github_raw, owner, name, rev)
  elseif u and u.netloc == "hg.mozilla.org" then
    check_hg_repo(S, u, repo)
    check_hg_rev(S, rev)
    return format("%s://%s%s/raw-file/%s/.taskcluster.yml", u.scheme, u.netloc, u.path, rev)
  end
  fail("input", "decision task %s: unsupported VCS server in %s_HEAD_REPOSITORY %s (github.com and "
    .. "hg.mozilla.org only)", S.decision_task_id, prefix(S), repo)
end

local function needs_secret(config)
  local rules = config.trusted_vcs_rules
  if is_array(rules) then
    for _, r in ipairs(rules) do
      if is_object(r) and r.require_secret == true then
        return true
      end
    end
  end
  return false
end

-- get_in_tree_template: the parsed .taskcluster.yml. Private GitHub
-- repositories get HTTP Basic auth with github_oauth_token as the user.
function M.in_tree_template(S)
  if S.template then
    return S.template
  end
  local url = M.taskcluster_yml_url(S)
  local repo = decision_repo(S)
  local headers
  local t = S.config.github_oauth_token
  if type(t) == "string" and t ~= "" and repo:find("github.com", 1, true) and
      (repo:sub(1, 6) == "ssh://" or repo:sub(1, 14) == "git@github.com" or needs_secret(S.config)) then
    secrets.add(t)
    headers = { Authorization = "Basic " .. require("sw.sign").b64encode(t .. ":") }
  end
  S.template, S.template_url = fetch.mapping(S, url, ".taskcluster.yml", headers)
  return S.template
end

-- Actions ------------------------------------------------------------------

local function action_perm(defn, cb_name)
  local extra = defn.extra
  local perm
  if is_object(extra) and extra.actionPerm ~= nil then
    perm = extra.actionPerm
  else
    perm = defn.actionPerm
  end
  if perm == nil or perm == null then
    local hook_id = defn.hookId
    if hook_id == nil then
      hook_id = "generic/"
    end
    if type(hook_id) == "string" and hook_id:find("generic/", 1, true) then
      perm = "generic"
    else
      perm = cb_name
    end
  end
  if type(perm) ~= "string" then
    fail("input", "the action's actionPerm is not a string")
  end
  return perm
end
M.action_perm = action_perm

-- The hook's task template: .taskcluster.yml inside the $let the hooks
-- service definition wraps it in.
local function wrap_action_hook(tmpl, perm, tasks_for)
  local function eval(e)
    return object({ ["$eval"] = e })
  end
  return object({
    ["$let"] = object({
      tasks_for = tasks_for,
      action = object({
        name = "${payload.decision.action.name}",
        title = "${payload.decision.action.title}",
        description = "${payload.decision.action.description}",
        taskGroupId = "${payload.decision.action.taskGroupId}",
        symbol = "${payload.decision.action.symbol}",
        repo_scope = "assume:repo:${payload.decision.repository.url[8:]}:" .. tasks_for .. ":" .. perm,
        action_perm = perm,
        cb_name = "${payload.decision.action.cb_name}",
      }),
      push = eval("payload.decision.push"),
      repository = eval("payload.decision.repository"),
      input = eval("payload.user.input"),
      parameters = eval("payload.decision['parameters']"),
      taskId = eval("payload.user.taskId"),
      taskGroupId = eval("payload.user.taskGroupId"),
      ownTaskId = eval("taskId"),
    }),
    ["in"] = tmpl,
  })
end

-- get_action_context_and_template for action and pr-action tasks.
function M.action_context_and_template(S)
  local name = "public/actions.json"
  local doc = fetch.json(fetch.artifact(S, S.decision_task_id, name), name,
    "decision task " .. S.decision_task_id)
  local actions = is_object(doc) and doc.actions
  if not is_array(actions) then
    fail("input", "public/actions.json of decision task %s has no actions list", S.decision_task_id)
  end
  local callback = env(S.task, "ACTION_CALLBACK")
  if callback == nil or callback == "" then
    fail("input", "payload.env.ACTION_CALLBACK is missing")
  end
  local defn
  for _, a in ipairs(actions) do
    if dig(a, "hookPayload", "decision", "action", "cb_name") == callback then
      defn = a
      break
    end
  end
  if not defn then
    fail("input", "no action with callback %s in public/actions.json of decision task %s", callback,
      S.decision_task_id)
  end
  if defn.kind ~= "hook" then
    fail("input", "unknown action kind %s for action %s (callback %s): only hook actions can be rebuilt",
      json.encode(defn.kind) or "?", json.encode(defn.name) or "?", callback)
  end
  local ctx = M.populate(S)
  local tmpl = wrap_action_hook(M.in_tree_template(S), action_perm(defn, callback), S.tasks_for)
  if ctx.input == nil then
    fail("input", "extra.action.context has no input")
  end
  local payload, err = jsone.render(defn.hookPayload, object({
    input = ctx.input,
    parameters = or_null(ctx.parameters),
    taskGroupId = S.task.taskGroupId,
    taskId = or_null(ctx.taskId),
  }))
  if payload == nil then
    fail("jsone", "JSON-e error while rendering the hookPayload of action %s: %s", callback, err)
  end
  local render_ctx = object({
    payload = payload,
    taskId = S.task_id,
    now = ctx.now,
    as_slugid = ctx.as_slugid,
    clientId = or_null(ctx.clientId),
  })
  return render_ctx, tmpl
end

-- get_jsone_context_and_template.
function M.context_and_template(S)
  if S.tasks_for == "action" or S.tasks_for == "pr-action" then
    return M.action_context_and_template(S)
  end
  local tmpl = M.in_tree_template(S)
  return M.populate(S), tmpl
end

return M
