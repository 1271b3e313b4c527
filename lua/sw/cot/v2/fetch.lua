-- sw.cot.v2.fetch: where chain-of-trust v2 gets its remote inputs.
--
-- The v2 module never does I/O itself: it calls an `inputs` table
--
--   inputs = {
--     fetch_text = function(url, headers) -> text | nil, message, code,
--     fetch_artifact = function(task_id, name) -> text | nil, message, code,
--     urls = { hg = ..., github_raw = ..., github_api = ..., projects = ... },
--     cache = {},          -- optional, url -> text, shared between calls
--   }
--
-- URLs are built exactly as the Python worker builds them (canonical:
-- https://hg.mozilla.org/..., https://raw.githubusercontent.com/...,
-- https://api.github.com/..., project_configuration_url) and then rebased
-- on `urls` (tests point them at a loopback server). This module also
-- makes the two usual `inputs`: over sw.http, and over the verified
-- artifacts the chain-of-trust engine downloaded into work_dir/cot/.
local json = require("sw.json")
local yaml = require("sw.yaml")
local log = require("sw.log")
local common = require("sw.cot.v2.common")

local M = {}

local type, format = type, string.format
local fail = common.fail

M.CANONICAL = {
  hg = "https://hg.mozilla.org",
  github_raw = "https://raw.githubusercontent.com",
  github_api = "https://api.github.com",
  -- GitHub's own pages: the "has it landed" check of pull requests
  -- (VERIFY.md 8), which cot_input_urls.github redirects like the others
  github = "https://github.com",
}

-- Most bytes accepted for one remote input.
M.MAX_BODY = 64 * 1024 * 1024

-- rebase(inputs, url) -> url with a canonical base replaced by the one
-- configured in inputs.urls (hg, github_raw, github_api, github).
function M.rebase(inputs, url)
  local urls = inputs.urls
  if type(urls) ~= "table" then
    return url
  end
  for key, canonical in pairs(M.CANONICAL) do
    local base = urls[key]
    if type(base) == "string" and base ~= canonical and
        (url == canonical or url:sub(1, #canonical + 1) == canonical .. "/") then
      return (base:gsub("/+$", "")) .. url:sub(#canonical + 1)
    end
  end
  return url
end

-- text(S, url, what[, headers]) -> body. Fails (code "fetch") naming what
-- and the URL. Bodies without headers are memoised in inputs.cache (or a
-- per-call table), so projects.yml is fetched once per verification.
function M.text(S, url, what, headers)
  local inputs = S.inputs
  local real = M.rebase(inputs, url)
  local cache = S.cache
  if not headers and cache[real] then
    return cache[real]
  end
  log.info("cot v2: fetching " .. what, { url = real })
  local body, err = inputs.fetch_text(real, headers)
  if type(body) ~= "string" then
    fail("fetch", "can't fetch %s from %s: %s", what, real, tostring(err or "no text"))
  end
  if not headers then
    cache[real] = body
  end
  return body
end

-- artifact(S, task_id, name) -> text of an artifact of task_id.
function M.artifact(S, task_id, name)
  log.info("cot v2: reading an artifact", { task = task_id, name = name })
  local body, err = S.inputs.fetch_artifact(task_id, name)
  if type(body) ~= "string" then
    fail("fetch", "can't get %s of task %s: %s", name, task_id, tostring(err or "no text"))
  end
  return body
end

function M.json(text, what, where)
  local v, err = json.decode(text)
  if v == nil then
    fail("parse", "%s from %s is not valid JSON: %s", what, where, tostring(err))
  end
  return v
end

function M.yaml(text, what, where)
  local v, err = yaml.load(text)
  if v == nil then
    fail("parse", "%s from %s is not valid YAML: %s", what, where, tostring(err))
  end
  return v
end

-- mapping(S, url, what[, headers]) -> the YAML (or JSON) mapping at url,
-- and the URL it was fetched from.
function M.mapping(S, url, what, headers)
  local where = M.rebase(S.inputs, url)
  local doc = M.yaml(M.text(S, url, what, headers), what, where)
  if not common.is_object(doc) then
    fail("input", "%s from %s is not a mapping", what, where)
  end
  return doc, where
end

-- Inputs over sw.http ----------------------------------------------------

-- get_text(url, headers[, opts]) -> body | nil, message, code: one GET
-- over sw.http with retries, the one retry loop of every remote input of
-- chain-of-trust verification. 200 is success; 5xx, 429 and the
-- transport failures the Queue client retries (timeout, connect, closed,
-- resolve) are tried again, up to opts.attempts (5), opts.retry_delay (1 s)
-- doubled each time, at most 15 s; any other answer fails at once.
-- The code is sw.http's, or "HTTP<status>" for an answer other than 200;
-- is_transient(code) tells a failure after the retries (not evidence of
-- anything) from a definite one (a 404). opts.timeout: seconds per attempt
-- (60).
function M.get_text(url, headers, opts)
  opts = opts or {}
  local http = require("sw.http")
  local sched = require("sw.sched")
  local attempts = opts.attempts or 5
  local delay0 = opts.retry_delay or 1
  local last, last_code, transient
  for attempt = 1, attempts do
    local res, msg, code = http.request({
      url = url,
      headers = headers,
      timeout = opts.timeout or 60,
      max_body = M.MAX_BODY,
    })
    if res and res.status == 200 then
      return res.body
    end
    if res then
      last = format("HTTP %d", res.status)
      last_code = "HTTP" .. res.status
      transient = M.is_transient(last_code)
    else
      last = msg
      last_code = code
      transient = M.is_transient(code)
    end
    if not transient then
      return nil, last, last_code
    end
    if attempt < attempts then
      local d = delay0 * 2 ^ (attempt - 1)
      sched.sleep(d > 15 and 15 or d)
    end
  end
  return nil, last, last_code
end

-- Whether a failure code of get_text is worth another attempt: a 5xx or a
-- 429 answer, or a transport failure the Queue client retries.
function M.is_transient(code)
  if type(code) ~= "string" then
    return false
  end
  local status = tonumber(code:match("^HTTP(%d+)$"))
  if status then
    return status >= 500 or status == 429
  end
  return require("sw.queue").RETRY_CODES[code] == true
end

-- http_inputs(opts) -> inputs. Must be used inside a sw.sched task.
--   opts.urls: rebasing table (see above)
--   opts.queue_client: the sw.queue client artifacts are read with (the
--     latest run's, following the Queue's 303 to artifact storage, as
--     every artifact download does); default: an anonymous client of
--     opts.root_url
--   opts.attempts (default 5), opts.retry_delay (seconds, default 1,
--     doubled per attempt, at most 15), opts.timeout (seconds, default 60).
-- fetch_text: GET only; 200 is success; 404 and other 4xx fail at once;
-- 5xx and connection failures are retried.
function M.http_inputs(opts)
  opts = opts or {}
  local attempts = opts.attempts or 5
  local delay0 = opts.retry_delay or 1
  local timeout = opts.timeout or 60
  local client = opts.queue_client
  if not client and opts.root_url then
    client = require("sw.queue").new({
      root_url = opts.root_url,
      retries = attempts - 1,
      backoff_base = delay0,
      max_backoff = 15,
      timeout = timeout,
      transfer_timeout = timeout,
    })
  end

  local function get(url, headers)
    return M.get_text(url, headers, { attempts = attempts, retry_delay = delay0, timeout = timeout })
  end

  -- Through a private temporary file: the client streams downloads to
  -- disk (decoding Content-Encoding); the inputs are small texts.
  local function fetch_artifact(task_id, name)
    if not client then
      return nil, "no Queue configured", "config"
    end
    local fs = require("sw.fs")
    local tmp = os.tmpname()
    local res, err, code = client:download_artifact(task_id, nil, name, tmp, { max_body = M.MAX_BODY })
    local text
    if res then
      text, err, code = fs.read_file(tmp, M.MAX_BODY)
    end
    os.remove(tmp)
    if not text then
      return nil, tostring(err), code
    end
    return text
  end

  return {
    urls = opts.urls,
    fetch_text = get,
    fetch_artifact = fetch_artifact,
  }
end

-- file_artifacts(work_dir) -> fetch_artifact reading
-- work_dir/cot/TASK_ID/NAME: the artifacts the engine already downloaded
-- and checked against the decision task's chain-of-trust.json (phase 4).
function M.file_artifacts(work_dir)
  local fs = require("sw.fs")
  return function(task_id, name)
    local path, err, code = fs.safe_join(work_dir, "cot/" .. task_id .. "/" .. name)
    if not path then
      return nil, err, code
    end
    return fs.read_file(path, M.MAX_BODY)
  end
end

return M
