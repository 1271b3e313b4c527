-- sw.cot.tree: trace the chain back to the tree (cot/VERIFY.md section 8,
-- trace_back_to_tree): every task's source repository, the restricted
-- scopes of the root against the trees allowed for them, the task group's
-- repository consistency and no try or pull-request task under restricted
-- scopes. Pure: GitHub lookups go through an injected `github` table, and
-- errors are returned, never logged.
--
-- `config` is the resolved worker config (config.apply_product_config):
-- trusted_vcs_rules, cot_restricted_scopes, cot_restricted_trees,
-- source_env_prefix, cot_product, official_github_repos_owner.
--
-- `github` = {
--   commit_landed = function(owner, name, sha) -> bool | nil, err,
--   tag_commit = function(owner, name, tag) -> sha | nil, err,
-- }
local json = require("sw.json")
local regex = require("sw.regex")
local common = require("sw.cot.v2.common")

local M = {}

local type, ipairs, next, tostring, pcall = type, ipairs, next, tostring, pcall
local format, concat, sort = string.format, table.concat, table.sort
local null = json.null

local function is_object(v)
  return type(v) == "table" and json.type(v) == "object"
end

local function is_array(v)
  return type(v) == "table" and json.type(v) == "array"
end

local function absent(v)
  return v == nil or v == null
end

local function show(v)
  if v == nil or v == null then
    return "None"
  end
  if type(v) == "string" then
    if #v > 200 then
      return v:sub(1, 200) .. format("... (%d bytes)", #v)
    end
    return v
  end
  local s = json.encode(v, { sort_keys = true }) or ("<" .. type(v) .. ">")
  if #s > 200 then
    s = s:sub(1, 200) .. format("... (%d bytes)", #s)
  end
  return s
end

local function who(link)
  return format("%s %s", tostring(link and link.name), tostring(link and link.task_id))
end

-- Runs fn(...) and turns the {code, msg} errors of sw.cot.v2.common (env
-- values that are not strings, non-GitHub URLs) into nil, msg.
local function protect(fn, ...)
  local ok, a, b = pcall(fn, ...)
  if ok then
    return a, b
  end
  if common.is_error(a) then
    return nil, nil, a.msg
  end
  return nil, nil, "internal error: " .. tostring(a)
end

-- URLs -------------------------------------------------------------------

local function percent_decode(s)
  return (s:gsub("%%(%x%x)", function(h)
    return string.char(tonumber(h, 16))
  end))
end

-- The path of a URL as Python's urlparse gives it (before decoding):
-- common.parse_url for "scheme://netloc/path"; otherwise an optional
-- "scheme:" is removed, then "//netloc" if present, and the query and
-- fragment are cut.
local function url_path(url)
  local u = common.parse_url(url)
  if u then
    return u.path
  end
  local s = url:gsub("#.*$", ""):gsub("%?.*$", "")
  s = s:gsub("^[%a][%w+.-]*:", "", 1)
  if s:sub(1, 2) == "//" then
    s = s:match("^//[^/]*(.*)$")
  end
  return s
end

-- Python's get_parts_of_url_path: the decoded path without leading "/",
-- split on "/".
local function path_parts(url)
  local path = percent_decode(url_path(url)):gsub("^/+", "")
  local parts = {}
  for seg in (path .. "/"):gmatch("([^/]*)/") do
    parts[#parts + 1] = seg
  end
  return parts
end

local function check_rule(rule, i)
  if not is_object(rule) then
    return format("trusted_vcs_rules[%d] is not an object", i - 1)
  end
  for _, key in ipairs({ "schemes", "netlocs", "path_regexes" }) do
    local list = rule[key]
    if not is_array(list) then
      return format("trusted_vcs_rules[%d].%s is not a list", i - 1, key)
    end
    for j = 1, #list do
      if type(list[j]) ~= "string" then
        return format("trusted_vcs_rules[%d].%s[%d] is not a string", i - 1, key, j - 1)
      end
    end
  end
  return nil
end

local function contains(list, v)
  for i = 1, #list do
    if list[i] == v then
      return true
    end
  end
  return false
end

-- match_url_regex(rules, url, callback) -> result | nil [, err]. For each
-- rule whose `schemes` has the URL's scheme (lowercase) and whose `netlocs`
-- has its raw netloc (case-sensitive, with any user or port), each of its
-- `path_regexes` in order is searched (Python re.search semantics) in the
-- percent-decoded path; callback(groups, regex) is called on a match and
-- its first non-nil result is returned. nil without an error: no match.
-- Malformed rules, a bad regex or a path that is not UTF-8 once decoded
-- are errors. (Python keeps ";params" out of an https path; here they stay
-- in it, so such a URL matches fewer rules.)
function M.match_url_regex(rules, url, callback)
  if not is_array(rules) then
    return nil, format("trusted_vcs_rules is not a list, got %s", show(rules)), "invalid"
  end
  local u = common.parse_url(url)
  if not u then
    return nil
  end
  local path = percent_decode(u.path)
  for i, rule in ipairs(rules) do
    local err = check_rule(rule, i)
    if err then
      return nil, err, "invalid"
    end
    if contains(rule.schemes, u.scheme) and contains(rule.netlocs, u.netloc) then
      for _, pattern in ipairs(rule.path_regexes) do
        local r, cerr, ccode = regex.compile(pattern)
        if not r then
          return nil, cerr, ccode
        end
        local m, merr, mcode = r:search(path)
        if merr then
          return nil, format("%s: %s", show(url), merr), mcode
        end
        if m then
          local res, cberr = callback(m, r)
          if cberr then
            return nil, cberr, "invalid"
          end
          if res ~= nil then
            return res
          end
        end
      end
    end
  end
  return nil
end

-- The callback for trusted repositories: the named group `path` (the "repo
-- path"). A pattern without that group is an error (Python: KeyError).
function M.path_callback(m, r)
  local names = r:info().names or {}
  if not names.path then
    return nil, format("trusted_vcs_rules pattern %s has no (?P<path>...) group", show(r:info().pattern)), "invalid"
  end
  if m.path == false then
    return nil
  end
  return m.path
end

-- get_source_url ---------------------------------------------------------

local function prefix_of(config)
  local p = config.source_env_prefix
  if type(p) ~= "string" or p == "" then
    return nil, format("config source_env_prefix is not set, got %s", show(p)), "invalid"
  end
  return p
end

-- get_source_url(link, config) -> source | nil, err: the task's
-- metadata.source, after checking that it belongs to P_HEAD_REPOSITORY
-- when that is set (enterprise: COMM_HEAD_REPOSITORY when set, else
-- P_HEAD_REPOSITORY). Stricter than Python: both must be absolute URLs
-- with a hostname, and an empty repository counts as set.
function M.get_source_url(link, config)
  local me = who(link)
  local task = link.task
  if not is_object(task) then
    return nil, format("%s: the task definition is not an object", me), "invalid"
  end
  if not is_object(task.metadata) or absent(task.metadata.source) then
    return nil, format("%s: metadata.source is missing", me), "invalid"
  end
  local source = task.metadata.source
  if type(source) ~= "string" then
    return nil, format("%s: metadata.source is not a string, got %s", me, show(source)), "invalid"
  end
  local p, perr = prefix_of(config)
  if not p then
    return nil, me .. ": " .. perr, "invalid"
  end
  local tw = me .. ": "
  local repo, _, err = protect(common.head_repository, task, p, tw)
  if err then
    return nil, err, "invalid"
  end
  local label = p .. "_HEAD_REPOSITORY"
  if config.cot_product == "enterprise" then
    -- Enterprise runs a gecko and a comm decision task; a task of the comm
    -- one carries COMM_HEAD_REPOSITORY and its source is in that repository.
    local comm
    comm, _, err = protect(common.head_repository, task, "COMM", tw)
    if err then
      return nil, err, "invalid"
    end
    if comm then
      repo, label = comm, "COMM_HEAD_REPOSITORY"
    end
  end
  if repo and not common.repo_matches_url(repo, source) then
    return nil, format("%s: %s %s doesn't match source %s!", me, label, show(repo), show(source)), "invalid"
  end
  return source
end

-- Try and pull requests --------------------------------------------------

local function dig(t, ...)
  return common.dig(t, ...)
end

-- A string field or "" when absent; nil, err when of another type (null
-- included: Python fails on it too).
local function string_or_empty(v, what)
  if v == nil then
    return ""
  end
  if type(v) ~= "string" then
    return nil, format("%s is not a string, got %s", what, show(v)), "invalid"
  end
  return v
end

-- t[k] when t is an object (false kept), else nil.
local function member(t, k)
  if is_object(t) then
    return rawget(t, k)
  end
  return nil
end

local function is_github_url(url)
  return type(url) == "string" and (url:sub(1, 19) == "https://github.com/" or url:sub(1, 17) == "ssh://github.com/")
end

-- is_github_task(task) -> bool | nil, err: Python's is_github_task. An
-- extra.tasks_for that is not a string is an error (Python fails on it).
function M.is_github_task(task)
  local tasks_for = member(task.extra, "tasks_for")
  if tasks_for ~= nil and type(tasks_for) ~= "string" then
    return nil, format("extra.tasks_for is not a string, got %s", show(tasks_for)), "invalid"
  end
  if task.schedulerId == "taskcluster-github" then
    return true
  end
  if tasks_for and tasks_for:sub(1, 7) == "github-" then
    return true
  end
  return is_github_url(dig(task, "metadata", "source"))
end

local function is_try_url(url)
  return path_parts(url)[1]:find("try", 1, true) ~= nil
end

-- is_try(link, config) -> bool | nil, err. "try" is looked for as a
-- substring, as Python does (try-comm-central counts): counting more tasks
-- as try only refuses more.
function M.is_try(link, config)
  local me = who(link)
  local task = link.task
  if not is_object(task) then
    return nil, format("%s: the task definition is not an object", me), "invalid"
  end
  local p, perr = prefix_of(config)
  if not p then
    return nil, me .. ": " .. perr, "invalid"
  end
  if absent(task.schedulerId) then
    return nil, format("%s: schedulerId is missing", me), "invalid"
  end
  local branch, err = string_or_empty(member(member(task.payload, "env"), "MH_BRANCH"), me .. ": payload.env.MH_BRANCH")
  if not branch then
    return nil, err, "invalid"
  end
  local repo, _, rerr = protect(common.head_repository, task, p, me .. ": ")
  if rerr then
    return nil, rerr, "invalid"
  end
  if not is_object(task.metadata) then
    return nil, format("%s: metadata is missing", me), "invalid"
  end
  local source
  source, err = string_or_empty(task.metadata.source, me .. ": metadata.source")
  if not source then
    return nil, err, "invalid"
  end
  return task.schedulerId == "gecko-level-1" or branch:find("try", 1, true) ~= nil or is_try_url(repo or "")
    or is_try_url(source)
end

local function require_secret(config)
  local rules = config.trusted_vcs_rules
  if is_array(rules) then
    for _, rule in ipairs(rules) do
      if is_object(rule) and rule.require_secret and rule.require_secret ~= null then
        return true
      end
    end
  end
  return false
end

-- Has `rev` landed on OWNER/NAME? Always "yes" when any trusted rule has
-- require_secret (private repositories: GitHub's branch_commits page is
-- not available, as in Python). A revision that is not a full commit hash
-- is a tag, resolved first.
local function landed(config, github, owner, name, rev, me)
  if require_secret(config) then
    return true
  end
  if type(github) ~= "table" or type(github.commit_landed) ~= "function" or type(github.tag_commit) ~= "function" then
    return nil, me .. ": no GitHub client to tell whether a revision has landed", "config"
  end
  local sha = rev
  if not rev:find("^" .. ("[0-9a-f]"):rep(40) .. "$") then
    local ok, err
    ok, sha, err = pcall(github.tag_commit, owner, name, rev)
    if not ok then
      sha, err = nil, sha
    end
    if not sha then
      return nil, format("%s: cannot resolve tag %s of %s/%s: %s", me, show(rev), owner, name, tostring(err)), "fetch"
    end
    if type(sha) ~= "string" then
      return nil, format("%s: tag %s of %s/%s resolved to %s", me, show(rev), owner, name, show(sha)), "fetch"
    end
  end
  -- (pcall, not protect: the engine's functions yield inside sw.sched,
  -- which Lua 5.4's pcall allows.)
  local fine, ok, err = pcall(github.commit_landed, owner, name, sha)
  if not fine then
    ok, err = nil, ok
  end
  if ok == nil then
    return nil, format("%s: cannot tell whether %s landed on %s/%s: %s", me, sha, owner, name, tostring(err)), "fetch"
  end
  return ok == true
end

-- Owner, name, revision and the repository URL of a GitHub source URL
-- (https://github.com/OWNER/NAME/raw/REV/...): taken from the path
-- segments, so a name that also appears in the owner works (VERIFY.md #79).
local function source_repo_and_revision(source, me)
  if not is_github_url(source) then
    return nil, format("%s: metadata.source %s is not a GitHub URL", me, show(source)), "invalid"
  end
  local parts = path_parts(source)
  local owner, name, rev = parts[1], parts[2], parts[4]
  if not owner or owner == "" or not name or name == "" then
    return nil, format("%s: metadata.source %s has no repository owner and name", me, show(source)), "invalid"
  end
  if not rev or rev == "" then
    return nil, format("%s: Revision cannot be extracted from metadata.source %s", me, show(source)), "invalid"
  end
  return { owner = owner, name = (name:gsub("%.git$", "")), rev = rev }
end

-- is_pull_request(link, config, github) -> bool | nil, err: Python's
-- is_pull_request. Every condition is evaluated (so errors are never
-- hidden by an earlier true one), as Python builds its whole list.
function M.is_pull_request(link, config, github)
  local me = who(link)
  local task = link.task
  if not is_object(task) then
    return nil, format("%s: the task definition is not an object", me), "invalid"
  end
  local p, perr = prefix_of(config)
  if not p then
    return nil, me .. ": " .. perr, "invalid"
  end
  local official = config.official_github_repos_owner
  local result = false
  local tasks_for = dig(task, "extra", "tasks_for")
  if tasks_for == "github-pull-request" or tasks_for == "github-pull-request-untrusted" then
    result = true
  end
  local function owner_check(owner)
    if type(official) ~= "string" or official == "" then
      return nil, format("%s: this worker has no official_github_repos_owner (got %s) to tell a pull request",
        me, show(official)), "invalid"
    end
    return owner ~= official
  end

  -- Pair 1: HEAD_REPOSITORY and HEAD_REV, skipped when absent.
  local repo, _, err = protect(common.head_repository, task, p, me .. ": ")
  if err then
    return nil, err, "invalid"
  end
  if repo and repo ~= "" then
    local owner, name
    owner, name, err = protect(common.github_owner_and_name, repo, me .. ": " .. p .. "_HEAD_REPOSITORY")
    if err then
      return nil, err, "invalid"
    end
    local foreign, oerr = owner_check(owner)
    if foreign == nil then
      return nil, oerr, "invalid"
    end
    result = result or foreign
    local rev
    rev, _, err = protect(common.head_rev, task, p, me .. ": ")
    if err then
      return nil, err, "invalid"
    end
    if rev and rev ~= "" then
      local ok, lerr, lcode = landed(config, github, owner, name, rev, me)
      if ok == nil then
        return nil, lerr, lcode
      end
      result = result or not ok
    end
  end

  -- Pair 2: metadata.source, never skipped.
  local source = is_object(task.metadata) and task.metadata.source or nil
  if absent(source) then
    source = ""
  end
  local s, serr = source_repo_and_revision(source, me)
  if not s then
    return nil, serr, "invalid"
  end
  local foreign, oerr = owner_check(s.owner)
  if foreign == nil then
    return nil, oerr, "invalid"
  end
  result = result or foreign
  local ok, lerr, lcode = landed(config, github, s.owner, s.name, s.rev, me)
  if ok == nil then
    return nil, lerr, lcode
  end
  return result or not ok
end

-- is_try_or_pull_request(link, config, github) -> bool | nil, err: GitHub
-- tasks (schedulerId taskcluster-github, tasks_for github-*, or a GitHub
-- metadata.source) by is_pull_request, the others by is_try.
function M.is_try_or_pull_request(link, config, github)
  if not is_object(link.task) then
    return nil, format("%s: the task definition is not an object", who(link)), "invalid"
  end
  local gh, err = M.is_github_task(link.task)
  if gh == nil then
    return nil, format("%s: %s", who(link), err), "invalid"
  end
  if gh then
    return M.is_pull_request(link, config, github)
  end
  return M.is_try(link, config)
end

-- Restricted scopes ------------------------------------------------------

-- The restricted-scope keys a scope matches: a key ending in "*" matches a
-- scope starting with the key without its trailing "*"s; others must be
-- equal.
local function matching_keys(scope, restricted)
  local out = {}
  for key in next, restricted do
    if type(key) == "string" then
      local stem = key:match("^(.-)%**$")
      if (#stem < #key and scope:sub(1, #stem) == stem) or scope == key then
        out[#out + 1] = key
      end
    end
  end
  sort(out)
  return out
end

-- (list, errors): every root scope that matches a restricted key.
local function restricted_scopes(root_task, config)
  local errors = {}
  local restricted = config.cot_restricted_scopes
  if not is_object(restricted) then
    return nil, { format("config cot_restricted_scopes is not a mapping, got %s", show(restricted)) }
  end
  local scopes = is_object(root_task) and root_task.scopes or nil
  if not is_array(scopes) then
    return nil, { format("the task's scopes are not a list, got %s", show(scopes)) }
  end
  local out = {}
  for i, scope in ipairs(scopes) do
    if type(scope) ~= "string" then
      errors[#errors + 1] = format("scopes[%d] is not a string, got %s", i - 1, show(scope))
    else
      local keys = matching_keys(scope, restricted)
      if #keys > 1 then
        errors[#errors + 1] = format("Scope %s matches more than one restricted scope: %s", scope, concat(keys, ", "))
      elseif #keys == 1 then
        local level = restricted[keys[1]]
        if type(level) ~= "string" then
          errors[#errors + 1] = format("config cot_restricted_scopes[%s] is not a string, got %s", keys[1],
            show(level))
        else
          out[#out + 1] = { scope = scope, key = keys[1], level = level }
        end
      end
    end
  end
  return out, errors
end

-- restricted_scopes(root_task, config) -> list of {scope, key, level} |
-- nil, err: the root's scopes that are restricted (cot_restricted_scopes),
-- with the key each matched and its tree level. A scope matching several
-- keys is an error.
function M.restricted_scopes(root_task, config)
  local list, errors = restricted_scopes(root_task, config)
  if list == nil or #errors > 0 then
    return nil, concat(errors, "\n"), "invalid"
  end
  return list
end

-- trace_back -------------------------------------------------------------

local function decision_of(link)
  if type(link.decision_task_id) == "string" then
    return link.decision_task_id
  end
  return is_object(link.task) and link.task.taskGroupId or nil
end

-- trace_back(root, links, config, github) -> true | nil, errors. `links`
-- excludes the root; [root] + links are checked.
function M.trace_back(root, links, config, github)
  local errors = {}
  local me = who(root)
  local function add(msg)
    errors[#errors + 1] = msg
  end

  if type(decision_of(root)) ~= "string" then
    add(format("%s: taskGroupId is missing", me))
  end

  -- 1. Restricted scopes of the root. A scope that matches several keys is
  -- an error but still makes the root restricted.
  local restricted_list, rerrors = restricted_scopes(root.task, config)
  for _, e in ipairs(rerrors) do
    add(me .. ": " .. e)
  end
  local restricted = restricted_list == nil or #restricted_list > 0 or #rerrors > 0

  -- 2. The trusted repository path of every task (nil: not trusted).
  local all = { root }
  for _, l in ipairs(links) do
    all[#all + 1] = l
  end
  local repo_path, known = {}, {}
  for i, obj in ipairs(all) do
    local source, err = M.get_source_url(obj, config)
    if not source then
      add(err)
    else
      local path, merr = M.match_url_regex(config.trusted_vcs_rules, source, M.path_callback)
      if merr then
        add(format("%s: %s", who(obj), merr))
      else
        repo_path[i], known[i] = path, true
      end
    end
  end

  -- 3. Each restricted scope: the root's repository must be one of the
  -- trees of its level.
  local my_repo = repo_path[1]
  local trees = config.cot_restricted_trees
  for _, r in ipairs(restricted_list or {}) do
    local allowed = is_object(trees) and trees[r.level] or nil
    if not is_array(allowed) then
      add(format("%s: restricted scope %s has level %s, which is not in cot_restricted_trees", me, r.scope,
        show(r.level)))
    elseif not (known[1] and my_repo and contains(allowed, my_repo)) then
      add(format("%s: repo %s not allowlisted for scope %s!", me, show(my_repo), r.scope))
    end
  end

  -- 4. Tasks of the root's task group come from the root's repository;
  -- under restricted scopes, the others at least from a trusted one (a
  -- docker image built on mozilla-central may feed a beta release task).
  local my_group = decision_of(root)
  local differ = false
  for i = 2, #all do
    if known[i] and known[1] and repo_path[i] ~= my_repo then
      differ = true
    end
  end
  if differ then
    for i = 2, #all do
      if known[i] then
        local obj = all[i]
        local group = decision_of(obj)
        if type(group) ~= "string" then
          add(format("%s: taskGroupId is missing", who(obj)))
        elseif group == my_group then
          if repo_path[i] ~= my_repo then
            add(format("%s repo %s doesn't match my repo %s!", who(obj), show(repo_path[i]), show(my_repo)))
          end
        elseif restricted and repo_path[i] == nil then
          add(format("%s has no privileged repo on an restricted privilege scope!", who(obj)))
        end
      end
    end
  end

  -- 5. No try or pull-request task anywhere under restricted scopes.
  if restricted then
    for _, obj in ipairs(all) do
      local yes, err = M.is_try_or_pull_request(obj, config, github)
      if yes == nil then
        add(err)
      elseif yes then
        add(format("%s has restricted privilege scope, and %s is a try or pull request task!", me, who(obj)))
      end
    end
  end

  if #errors > 0 then
    return nil, errors, "untrusted"
  end
  return true
end

return M
