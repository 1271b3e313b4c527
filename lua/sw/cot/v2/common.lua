-- sw.cot.v2.common: errors, task environment readers and URL helpers shared
-- by the chain-of-trust v2 modules.
local json = require("sw.json")

local M = {}

local type, setmetatable, getmetatable, error = type, setmetatable, getmetatable, error
local format, tostring = string.format, tostring
local null = json.null

-- Errors -----------------------------------------------------------------

-- Expected failures are raised as {code, msg} tables with this metatable
-- and turned into `nil, msg, code` at the module's entry points; anything
-- else raised is a bug, reported as code "internal" (still a failure).
local ERR_MT = {
  __tostring = function(e)
    return e.msg
  end,
}

function M.fail(code, fmt, ...)
  local msg = select("#", ...) > 0 and format(fmt, ...) or fmt
  error(setmetatable({ code = code, msg = msg }, ERR_MT), 0)
end

-- Like fail, with a message used as is and an extra value (the list of
-- differences of a mismatch).
function M.fail_extra(code, msg, extra)
  error(setmetatable({ code = code, msg = msg, extra = extra }, ERR_MT), 0)
end

function M.is_error(e)
  return getmetatable(e) == ERR_MT
end

-- Runs fn(...) and returns its results, or nil, message, code, extra.
function M.protect(prefix, fn, ...)
  local res = table.pack(pcall(fn, ...))
  if res[1] then
    return table.unpack(res, 2, res.n)
  end
  local e = res[2]
  if M.is_error(e) then
    return nil, prefix .. e.msg, e.code, e.extra
  end
  return nil, prefix .. "internal error: " .. tostring(e), "internal"
end

-- Values -----------------------------------------------------------------

local function is_table(v)
  return type(v) == "table"
end

function M.is_object(v)
  return is_table(v) and json.type(v) == "object"
end

function M.is_array(v)
  return is_table(v) and json.type(v) == "array"
end

-- json null or Lua nil.
function M.absent(v)
  return v == nil or v == null
end

-- t[k1][k2]... or nil when any step is missing or not an object.
function M.dig(t, ...)
  for i = 1, select("#", ...) do
    if not M.is_object(t) then
      return nil
    end
    t = t[select(i, ...)]
  end
  if t == null then
    return nil
  end
  return t
end

-- Task environment (cot/VERIFY.md terminology) ---------------------------

-- env(task, key) -> string | nil. A missing env or key reads as nil; a
-- value that is not a string is an error naming the key.
function M.env(task, key, who)
  local env = M.dig(task, "payload", "env")
  if env == nil then
    return nil
  end
  local v = env[key]
  if M.absent(v) then
    return nil
  end
  if type(v) ~= "string" then
    M.fail("input", "%spayload.env.%s is not a string", who or "", key)
  end
  return v
end

local function strip_slashes(s)
  return s and (s:gsub("/+$", "")) or nil
end

function M.head_repository(task, prefix, who)
  return strip_slashes(M.env(task, prefix .. "_HEAD_REPOSITORY", who))
end

function M.base_repository(task, prefix, who)
  return strip_slashes(M.env(task, prefix .. "_BASE_REPOSITORY", who))
end

function M.head_rev(task, prefix, who)
  return M.env(task, prefix .. "_HEAD_REV", who)
end

function M.base_rev(task, prefix, who)
  return M.env(task, prefix .. "_BASE_REV", who)
end

function M.head_branch(task, prefix, who)
  return M.env(task, prefix .. "_HEAD_BRANCH", who) or M.env(task, prefix .. "_HEAD_REF", who)
end

function M.base_branch(task, prefix, who)
  return M.env(task, prefix .. "_BASE_BRANCH", who) or M.env(task, prefix .. "_BASE_REF", who)
end

function M.push_date_time(task, prefix, who)
  return M.env(task, prefix .. "_PUSH_DATE_TIME", who)
end

function M.triggered_by(task, prefix, who)
  return M.env(task, prefix .. "_TRIGGERED_BY", who)
end

-- The value or json null (context values Python sets to None).
function M.or_null(v)
  if v == nil then
    return null
  end
  return v
end

-- URLs -------------------------------------------------------------------

-- parse_url(s) -> {scheme, netloc, hostname, port, path, query, fragment}
-- | nil, msg, code: sw.url's, the worker's one URL parser.
M.parse_url = require("sw.url").parse

-- "git@github.com:owner/name" -> "ssh://github.com/owner/name" (first
-- occurrence only, as Python's str.replace(..., 1)).
function M.normalise_git_url(repo)
  local i, j = repo:find("git@github.com:", 1, true)
  if not i then
    return repo
  end
  return repo:sub(1, i - 1) .. "ssh://github.com/" .. repo:sub(j + 1)
end

-- GitHub's owner and repository name rules (letters, digits, - _ .).
local GH_NAME = "^[%w_.-]+$"

-- github_owner_and_name(repo_url) -> owner, name from the first two path
-- segments (a trailing ".git" removed from the name). Unlike Python, which
-- fails on a name that also appears in the owner (VERIFY.md #79), the
-- segments are taken as they are; both must be valid GitHub names.
function M.github_owner_and_name(repo_url, what)
  local u = M.parse_url(M.normalise_git_url(repo_url))
  if not u or u.netloc ~= "github.com" or (u.scheme ~= "https" and u.scheme ~= "ssh") then
    M.fail("input", "%s %s is not a GitHub repository URL", what or "repository", repo_url)
  end
  local owner, name = u.path:match("^/([^/]+)/([^/]+)/?$")
  if owner then
    name = name:gsub("%.git$", "")
  end
  if not owner or not owner:find(GH_NAME) or not name:find(GH_NAME) or name == "." or name == ".."
      or owner == "." or owner == ".." or u.query ~= "" or u.fragment ~= "" then
    M.fail("input", "%s %s is not a GitHub repository URL (https://github.com/OWNER/NAME)",
      what or "repository", repo_url)
  end
  return owner, name
end

local function split(path)
  local parts = {}
  for seg in (path .. "/"):gmatch("([^/]*)/") do
    parts[#parts + 1] = seg
  end
  return parts
end

-- Python's verify_repo_matches_url: same hostname (lowercase, no port),
-- url's path starts with repo's path and its segments begin with repo's.
-- Stricter: both must be absolute URLs with a hostname.
function M.repo_matches_url(repo, url)
  repo = M.normalise_git_url(repo):gsub("%.git$", "")
  local r, u = M.parse_url(repo), M.parse_url(url)
  if not r or not u or r.hostname == "" or r.hostname ~= u.hostname then
    return false
  end
  if u.path:sub(1, #r.path) ~= r.path then
    return false
  end
  local rp, up = split(r.path), split(u.path)
  for i = 1, #rp do
    if rp[i] ~= up[i] then
      return false
    end
  end
  return true
end

-- encodeURIComponent-style escaping of one path segment: the Queue
-- client's, so the worker has one percent-encoder.
M.encode_component = require("sw.queue").encode_component

return M
