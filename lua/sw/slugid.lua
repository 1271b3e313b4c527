-- Taskcluster slugids: 22 characters of URL-safe base64 of a version 4
-- UUID. nice() clears the first bit so the id never starts with "-".
local sign = require("sw.sign")

local M = {}

M.PATTERN = "^[A-Za-z0-9_-]{8}[Q-T][A-Za-z0-9_-][CGKOSWaeimquy26-][A-Za-z0-9_-]{10}[AQgw]$"

local function v4(bytes)
  local b = { bytes:byte(1, 16) }
  b[7] = (b[7] & 0x0f) | 0x40 -- version 4
  b[9] = (b[9] & 0x3f) | 0x80 -- RFC 4122 variant
  return b
end

local function encode(b)
  return sign.b64url_encode(string.char(table.unpack(b)))
end

function M.v4()
  return encode(v4(sign.random_bytes(16)))
end

function M.nice()
  local b = v4(sign.random_bytes(16))
  b[1] = b[1] & 0x7f
  return encode(b)
end

return M
