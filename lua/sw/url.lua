-- sw.url: the one URL parser of the worker. Hawk signs with it, the chain
-- of trust matches repositories and rebuilds .taskcluster.yml URLs with it,
-- and policies get it as ctx.parse_url.
--
-- Only absolute URLs with an authority ("scheme://netloc/path?query#frag")
-- are parsed, as Python's urllib.parse.urlparse splits them: the netloc
-- ends at the first "/", "?" or "#"; nothing is decoded.
local M = {}

-- parse(s) -> u | nil, msg, "invalid", where u is
--   scheme    lower-cased ("https")
--   netloc    the authority as written ("user@Host:8080")
--   hostname  lower-cased, without user info, port or IPv6 brackets
--   port      the explicit port (an integer), or nil
--   path      as written, "" when there is none
--   query     as written, without "?"; "" when there is none
--   fragment  as written, without "#"; "" when there is none
--   has_query whether a "?" was there (an empty query is still sent)
function M.parse(s)
  if type(s) ~= "string" then
    return nil, "url: expected a string, got " .. type(s), "invalid"
  end
  local scheme, rest = s:match("^(%a[%w+.-]*)://(.*)$")
  if not scheme then
    return nil, "url: not an absolute URL: " .. s, "invalid"
  end
  local netloc, tail = rest:match("^([^/?#]*)(.*)$")
  local fragment = ""
  local hash = tail:find("#", 1, true)
  if hash then
    tail, fragment = tail:sub(1, hash - 1), tail:sub(hash + 1)
  end
  local path, query, has_query = tail, "", false
  local q = tail:find("?", 1, true)
  if q then
    path, query, has_query = tail:sub(1, q - 1), tail:sub(q + 1), true
  end
  local host = netloc:gsub("^.*@", "")
  local hostname, port
  if host:sub(1, 1) == "[" then
    hostname, port = host:match("^%[([^%]]*)%]:?(%d*)$")
  else
    hostname, port = host:match("^([^:]*):?(%d*)$")
  end
  if not hostname then
    return nil, "url: bad host in " .. s, "invalid"
  end
  if port ~= "" and (#port > 5 or tonumber(port) > 65535) then
    return nil, "url: port out of range in " .. s, "invalid"
  end
  return {
    scheme = scheme:lower(),
    netloc = netloc,
    hostname = hostname:lower(),
    port = port ~= "" and math.tointeger(tonumber(port)) or nil,
    path = path,
    query = query,
    fragment = fragment,
    has_query = has_query,
  }
end

return M
