-- Content types for artifacts, guessed as the Python scriptworker does:
-- its own table first, then the system's MIME types (Python's mimetypes
-- reads /etc/mime.types), else "application/binary"; plus the encoding
-- Python's mimetypes derives from a compression suffix (.gz -> gzip).
-- Text types without an encoding are gzipped for upload.
local M = {}

-- The Python worker's table (scriptworker/artifacts.py), checked in order
-- with endswith: .tar.gz and .tgz stay un-encoded so a download is not
-- gunzipped, which would break chain-of-trust hashes.
local WORKER_TABLE = {
  { ".tar.gz", "application/x-tar" },
  { ".tgz", "application/x-tar" },
  { ".txt", "text/plain" },
  { ".dmg", "application/x-apple-diskimage" },
  { ".log", "text/plain" },
  { ".asc", "text/plain" },
  { ".diff", "text/plain" },
  { ".xml", "application/xml" },
}

M.GZIP_TYPES = {
  ["text/plain"] = true,
  ["application/json"] = true,
  ["text/html"] = true,
  ["application/xml"] = true,
}

-- Python mimetypes' suffix and encoding maps.
local SUFFIX_MAP = {
  [".svgz"] = ".svg.gz", [".tgz"] = ".tar.gz", [".taz"] = ".tar.gz",
  [".tz"] = ".tar.gz", [".tbz2"] = ".tar.bz2", [".txz"] = ".tar.xz",
}
local ENCODINGS = { [".gz"] = "gzip", [".Z"] = "compress", [".bz2"] = "bzip2", [".xz"] = "xz", [".br"] = "br" }

-- Used when /etc/mime.types is missing: the common part of Python's own
-- table.
local FALLBACK = {
  json = "application/json", html = "text/html", htm = "text/html", txt = "text/plain",
  xml = "text/xml", js = "text/javascript", css = "text/css", png = "image/png",
  jpg = "image/jpeg", jpeg = "image/jpeg", gif = "image/gif", svg = "image/svg+xml",
  zip = "application/zip", tar = "application/x-tar", pdf = "application/pdf",
  sh = "application/x-sh", py = "text/x-python", mar = "application/octet-stream",
  exe = "application/octet-stream", bin = "application/octet-stream", apk = "application/vnd.android.package-archive",
}

local system_types

local function load_system(path)
  local types = {}
  local f = io.open(path or "/etc/mime.types")
  if not f then
    return FALLBACK
  end
  for line in f:lines() do
    line = line:gsub("#.*$", "")
    local mtype, exts = line:match("^%s*(%S+)%s+(.+)$")
    if mtype then
      for ext in exts:gmatch("%S+") do
        -- Python reads the file in order; a later line wins.
        types[ext] = mtype
      end
    end
  end
  f:close()
  -- Python's built-in table has these too, whatever the system says.
  types.json = types.json or "application/json"
  return types
end

function M.set_system_types_file(path)
  system_types = load_system(path)
end

local function ends_with(s, suffix)
  return #s >= #suffix and s:sub(-#suffix) == suffix
end

-- mimetypes.guess_type(path): (type or nil, encoding or nil).
function M.python_guess(path)
  system_types = system_types or load_system()
  local base = path:match("([^/]*)$")
  local root, ext = base:match("^(.*)(%.[^.]*)$")
  if not root then
    return nil, nil
  end
  while SUFFIX_MAP[ext] do
    base = root .. SUFFIX_MAP[ext]
    root, ext = base:match("^(.*)(%.[^.]*)$")
  end
  local encoding
  local enc = ENCODINGS[ext] or ENCODINGS[ext:lower()]
  if enc then
    encoding = enc
    root, ext = root:match("^(.*)(%.[^.]*)$")
    if not root then
      return nil, encoding
    end
  end
  local e = ext:sub(2)
  local t = system_types[e] or system_types[e:lower()]
  return t, encoding
end

-- (content_type, encoding) for an artifact path, the Python worker's way.
function M.guess(path)
  for _, row in ipairs(WORKER_TABLE) do
    if ends_with(path, row[1]) then
      return row[2], nil
    end
  end
  local t, encoding = M.python_guess(path)
  return t or "application/binary", encoding
end

-- Whether the file is gzipped for upload (and sent with
-- Content-Encoding: gzip).
function M.should_gzip(content_type, encoding)
  return encoding == nil and M.GZIP_TYPES[content_type] == true
end

return M
