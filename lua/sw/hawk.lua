-- Hawk request signing as Taskcluster uses it (taskcluster/PROTOCOL.md
-- sections 2 and 3): the Authorization header, ext with the certificate and
-- authorizedScopes, the payload hash, bewits, and temporary credentials.
local sign = require("sw.sign")
local hash = require("sw.hash")
local json = require("sw.json")
local sw_url = require("sw.url")

local M = {}

local function b64(s)
  return sign.b64encode(s)
end

local function b64url_nopad(s)
  return sign.b64url_encode(s)
end

-- Splits an absolute http(s) URL into what Hawk signs: the lower-cased host
-- (without brackets for IPv6), the port (explicit, else 443/80) and the
-- resource (path and query exactly as sent).
function M.parse_url(url)
  local u, err = sw_url.parse(url)
  if not u then
    return nil, "hawk: " .. err:gsub("^url: ", ""), "invalid"
  end
  if u.hostname == "" then
    return nil, "hawk: bad host in URL: " .. url, "invalid"
  end
  local port = u.port
  if port == nil then
    if u.scheme == "https" then
      port = 443
    elseif u.scheme == "http" then
      port = 80
    else
      return nil, "hawk: unsupported scheme in URL: " .. url, "invalid"
    end
  end
  local resource = (u.path == "" and "/" or u.path) .. (u.has_query and "?" .. u.query or "")
  return { scheme = u.scheme, host = u.hostname, port = port, resource = resource }
end

-- The normalized string of hawk.1 for type "header" or "bewit".
function M.normalized(kind, a)
  local ext = a.ext or ""
  ext = ext:gsub("\\", "\\\\"):gsub("\n", "\\n")
  return table.concat({
    "hawk.1." .. kind,
    tostring(a.ts),
    a.nonce or "",
    a.method:upper(),
    a.resource,
    a.host,
    tostring(a.port),
    a.hash or "",
    ext,
  }, "\n") .. "\n"
end

function M.mac(key, normalized)
  return b64(sign.hmac_sha256(key, normalized))
end

-- base64(SHA256("hawk.1.payload\n" + mediatype + "\n" + body + "\n"))
function M.payload_hash(content_type, body)
  local media = (content_type or ""):match("^([^;]*)"):gsub("^%s+", ""):gsub("%s+$", ""):lower()
  return b64(hash.string("hawk.1.payload\n" .. media .. "\n" .. (body or "") .. "\n", "sha256", "raw"))
end

-- The ext attribute for credentials: base64 of {"certificate": <object>,
-- "authorizedScopes": [...]}, or nil when there is neither. The certificate
-- string is already compact JSON, so it is spliced in as it is (byte-exact
-- with the PROTOCOL.md vector).
function M.ext(certificate, authorized_scopes)
  local parts = {}
  if certificate ~= nil and certificate ~= json.null then
    if type(certificate) ~= "string" then
      certificate = assert(json.encode(certificate))
    end
    parts[#parts + 1] = '"certificate":' .. certificate
  end
  if authorized_scopes ~= nil then
    parts[#parts + 1] = '"authorizedScopes":' .. assert(json.encode(json.array(authorized_scopes)))
  end
  if #parts == 0 then
    return nil
  end
  return b64("{" .. table.concat(parts, ",") .. "}")
end

local NONCE_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

local function nonce()
  local bytes = sign.random_bytes(6)
  local out = {}
  for i = 1, 6 do
    local n = bytes:byte(i) % #NONCE_CHARS + 1
    out[i] = NONCE_CHARS:sub(n, n)
  end
  return table.concat(out)
end

-- The Authorization header for a request.
-- a = {credentials = {clientId, accessToken, certificate}, method, url,
--      authorized_scopes, ts, nonce, content_type, payload}
-- With a.payload set, the payload hash is included.
function M.header(a)
  local creds = a.credentials
  local u, err = M.parse_url(a.url)
  if not u then
    return nil, err, "invalid"
  end
  local fields = {
    ts = a.ts or os.time(),
    nonce = a.nonce or nonce(),
    method = a.method,
    resource = u.resource,
    host = u.host,
    port = u.port,
    ext = M.ext(creds.certificate, a.authorized_scopes),
  }
  if a.payload ~= nil then
    fields.hash = M.payload_hash(a.content_type, a.payload)
  end
  local mac = M.mac(creds.accessToken, M.normalized("header", fields))
  local h = string.format('Hawk id="%s", ts="%d", nonce="%s"', creds.clientId, fields.ts, fields.nonce)
  if fields.hash then
    h = h .. string.format(', hash="%s"', fields.hash)
  end
  if fields.ext then
    h = h .. string.format(', ext="%s"', fields.ext)
  end
  return h .. string.format(', mac="%s"', mac)
end

-- A bewit for a signed GET URL valid for ttl seconds (default 900).
function M.bewit(a)
  local creds = a.credentials
  local u, err = M.parse_url(a.url)
  if not u then
    return nil, err, "invalid"
  end
  local exp = (a.now or os.time()) + (a.ttl or 900)
  local ext = M.ext(creds.certificate, a.authorized_scopes) or ""
  local mac = M.mac(creds.accessToken, M.normalized("bewit", {
    ts = exp,
    nonce = "",
    method = "GET",
    resource = u.resource,
    host = u.host,
    port = u.port,
    ext = ext,
  }))
  return b64url_nopad(creds.clientId .. "\\" .. exp .. "\\" .. mac .. "\\" .. ext)
end

function M.signed_url(a)
  local bewit, err = M.bewit(a)
  if not bewit then
    return nil, err, "invalid"
  end
  return a.url .. (a.url:find("?", 1, true) and "&" or "?") .. "bewit=" .. bewit
end

-- Temporary credentials (section 3): the accessToken derived from the
-- issuer's token and the seed.
function M.temporary_access_token(issuer_access_token, seed)
  return b64url_nopad(sign.hmac_sha256(issuer_access_token, seed))
end

-- The certificate signature over version, (clientId, issuer), seed, start,
-- expiry and scopes.
function M.certificate_signature(issuer_access_token, cert, client_id)
  local lines = { "version:" .. tostring(cert.version) }
  if cert.issuer then
    lines[#lines + 1] = "clientId:" .. client_id
    lines[#lines + 1] = "issuer:" .. cert.issuer
  end
  lines[#lines + 1] = "seed:" .. cert.seed
  lines[#lines + 1] = "start:" .. string.format("%d", cert.start)
  lines[#lines + 1] = "expiry:" .. string.format("%d", cert.expiry)
  lines[#lines + 1] = "scopes:"
  for _, s in ipairs(cert.scopes) do
    lines[#lines + 1] = s
  end
  return b64(sign.hmac_sha256(issuer_access_token, table.concat(lines, "\n")))
end

return M
