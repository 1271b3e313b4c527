-- ed25519 keys as the Python scriptworker stores them: a key file or a
-- config entry is the base64 of 32 bytes, the seed (private key) or the
-- public key. The crypto is sw.sign (libsodium); this module turns text and
-- files into raw keys, knows the default trusted keys, and tries a
-- signature against a set of them.
local sign = require("sw.sign")

local M = {}

-- DEFAULT_CONFIG["ed25519_public_keys"] of the Python scriptworker
-- (conformance/scriptworker/default-config.json): worker implementation ->
-- its valid level 3 keys, several during a rotation.
M.DEFAULT_PUBLIC_KEYS = {
  ["docker-worker"] = {
    "kni6ts7z/MRkvs7i6+SF/T6UWj0hAJoHEcrgHB8BBR0=",
    "Kz/aZIVeR6NP8gQU1U+2CCIZqvbd+4QCP6J63lflwik=",
  },
  ["generic-worker"] = {
    "Kz/aZIVeR6NP8gQU1U+2CCIZqvbd+4QCP6J63lflwik=",
  },
  ["scriptworker"] = {
    "KO3FX9JnNga/XViTRBiUMHYnji9Fu3s332sU2lXjSwE=",
    "jFmyvf3lQiiX0qIFxal5KgIIq6VpUBTQfAtD6hEi8Ms=",
  },
}

local function key_from_string(s, what)
  local raw = sign.b64decode(s)
  if not raw then
    return nil, string.format("ed25519: %s: invalid base64", what), "badkey"
  end
  if #raw ~= 32 then
    return nil, string.format("ed25519: %s: must be 32 bytes, got %d", what, #raw), "badkey"
  end
  return raw
end

-- The raw 32-byte public key from its base64 text (whitespace ignored), or
-- nil, msg, "badkey".
function M.public_key_from_string(s)
  return key_from_string(s, "public key")
end

-- The raw 32-byte seed from its base64 text, or nil, msg, "badkey". The
-- message never contains the text.
function M.private_key_from_string(s)
  return key_from_string(s, "private key")
end

local function key_to_string(raw, what)
  if type(raw) ~= "string" or #raw ~= 32 then
    error(string.format("%s: 32-byte string expected", what), 3)
  end
  return sign.b64encode(raw)
end

-- The base64 text of a raw key, as the Python peer writes it (no newline).
function M.public_key_to_string(pk)
  return key_to_string(pk, "ed25519.public_key_to_string")
end

function M.private_key_to_string(seed)
  return key_to_string(seed, "ed25519.private_key_to_string")
end

-- Messages from sw.sign start with "sign: "; ours say which key it was.
local function relabel(what, err, code)
  return nil, what .. " " .. tostring(err):gsub("^sign: ", ""), code
end

-- Raw keys from key files: 32 bytes, or nil, "public key PATH: ...", code
-- (an errno name such as "ENOENT", or "badkey").
function M.load_public_key(path)
  local key, err, code = sign.read_key_file(path)
  if not key then
    return relabel("public key", err, code)
  end
  return key
end

function M.load_private_key(path)
  local key, err, code = sign.read_key_file(path)
  if not key then
    return relabel("private key", err, code)
  end
  return key
end

-- A sw.Signer for a private key file: the seed goes from the file into
-- guarded memory without becoming a Lua string. nil, msg, code as above.
function M.load_signer(path)
  local signer, err, code = sign.load_signer(path)
  if not signer then
    return relabel("private key", err, code)
  end
  return signer
end

-- Writes a new key pair: the private key file with mode 0600, the public one
-- with 0644, both atomically. Without overwrite an existing file is left
-- alone and the call fails with "EEXIST". On failure nothing is left behind
-- that this call created. Returns the raw public key, or nil, msg, code.
function M.write_key_pair(private_path, public_path, overwrite)
  local seed, pk = sign.keygen()
  if not overwrite then
    -- Refuse before writing anything when the public file is in the way.
    local f = io.open(public_path, "rb")
    if f then
      f:close()
      return nil, string.format("public key %s: File exists", public_path), "EEXIST"
    end
  end
  local ok, err, code = sign.write_key_file(private_path, sign.b64encode(seed), "0600",
    overwrite)
  if not ok then
    return relabel("private key", err, code)
  end
  ok, err, code = sign.write_key_file(public_path, sign.b64encode(pk), "0644", overwrite)
  if not ok then
    os.remove(private_path)
    return relabel("public key", err, code)
  end
  return pk
end

-- The trusted keys of a config's ed25519_public_keys (worker implementation
-- -> list of base64 keys; the defaults when nil) as a list of
-- { impl = name, text = base64, key = raw } ordered by implementation name,
-- then as listed. A bad entry fails the whole set: nil, msg, "badkey".
function M.trusted_keys(by_impl)
  by_impl = by_impl or M.DEFAULT_PUBLIC_KEYS
  if type(by_impl) ~= "table" then
    return nil, "ed25519_public_keys: expected a mapping, got " .. type(by_impl), "badkey"
  end
  local impls = {}
  for impl in pairs(by_impl) do
    if type(impl) ~= "string" then
      return nil, "ed25519_public_keys: keys must be worker implementation names", "badkey"
    end
    impls[#impls + 1] = impl
  end
  table.sort(impls)
  local keys = {}
  for _, impl in ipairs(impls) do
    local list = by_impl[impl]
    if type(list) ~= "table" then
      return nil, string.format("ed25519_public_keys.%s: expected a list, got %s", impl,
        type(list)), "badkey"
    end
    for i, text in ipairs(list) do
      local raw = type(text) == "string" and sign.b64decode(text)
      if not raw or #raw ~= 32 then
        return nil, string.format("ed25519_public_keys.%s[%d]: not a base64 ed25519 public key",
          impl, i), "badkey"
      end
      keys[#keys + 1] = { impl = impl, text = text, key = raw }
    end
  end
  return keys
end

-- The first entry of keys (as trusted_keys returns them) whose key verifies
-- signature over message, or nil.
function M.find_signer(keys, message, signature)
  for _, entry in ipairs(keys) do
    if sign.verify(entry.key, message, signature) then
      return entry
    end
  end
  return nil
end

return M
