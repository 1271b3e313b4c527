-- `scriptworker verify-ed25519-signature FILE SIGFILE [--pubkey KEY]
-- [--config CONFIG]` (also installed as `verify_ed25519_signature`): checks
-- a detached ed25519 signature the way the Python peer's tool does. Exit
-- status 0 valid, 1 invalid, 2 usage or I/O error.
local ed25519 = require("sw.ed25519")

local M = {}

local PROG = "verify-ed25519-signature"

M.USAGE = [[
usage: scriptworker verify-ed25519-signature FILE SIGFILE [--pubkey KEY]
                                             [--config CONFIG]
       verify_ed25519_signature FILE SIGFILE [--pubkey KEY] [--config CONFIG]

Checks that SIGFILE holds a valid detached ed25519 signature (64 raw bytes)
of FILE. KEY is a key file or the base64 text of a public key. Without
--pubkey every trusted key is tried: ed25519_public_keys from CONFIG (or
./scriptworker.yaml when it exists), else the Python scriptworker's default
keys.

Exit status: 0 valid, 1 invalid, 2 usage or I/O error.
]]

local function eprintf(fmt, ...)
  io.stderr:write(string.format(fmt, ...))
end

local function usage_error(msg)
  eprintf("%s: %s\n%s", PROG, msg, M.USAGE)
  return 2
end

local function read_file(path)
  local f, err = io.open(path, "rb")
  if not f then
    return nil, err, "io"
  end
  local data, rerr = f:read("a")
  f:close()
  if not data then
    return nil, path .. ": " .. tostring(rerr), "io"
  end
  return data
end

-- Options anywhere on the line, "--opt VALUE" or "--opt=VALUE".
local function parse(args)
  local opts, files = {}, {}
  local i = 1
  while i <= #args do
    local a = args[i]
    local name, value = a:match("^%-%-(%w+)=(.*)$")
    if name == nil and (a == "--pubkey" or a == "--config") then
      name, value = a:sub(3), args[i + 1]
      if value == nil then
        return nil, a .. " needs a value", "usage"
      end
      i = i + 1
    end
    if name == "pubkey" or name == "config" then
      opts[name] = value
    elseif name ~= nil then
      return nil, "unknown option --" .. name, "usage"
    elseif a == "-h" or a == "--help" then
      opts.help = true
    elseif a == "--" then
      table.move(args, i + 1, #args, #files + 1, files)
      break
    elseif a:sub(1, 1) == "-" and a ~= "-" then
      return nil, "unknown option " .. a, "usage"
    else
      files[#files + 1] = a
    end
    i = i + 1
  end
  if not opts.help and #files ~= 2 then
    return nil, "expected FILE and SIGFILE", "usage"
  end
  opts.file, opts.sigfile = files[1], files[2]
  return opts
end

-- --pubkey: a readable file is a key file; otherwise the text is the key.
local function pubkey_keys(spec)
  local f, ferr = io.open(spec, "rb")
  if f then
    f:close()
    local key, err, code = ed25519.load_public_key(spec)
    if not key then
      return nil, err, code
    end
    return { { impl = nil, text = ed25519.public_key_to_string(key), key = key } }
  end
  local key = ed25519.public_key_from_string(spec)
  if not key then
    return nil, string.format("--pubkey %s: neither a readable key file (%s) nor a base64"
      .. " ed25519 public key", spec, (ferr or ""):gsub("^.*: ", "")), "badkey"
  end
  return { { impl = nil, text = spec, key = key } }
end

-- The configured trusted keys. Until lua/sw/config.lua exists, this reads
-- the one key it needs from the YAML file itself, with the Python peer's
-- rule that the file's value replaces the default.
local function config_keys(path)
  if path == nil then
    local f = io.open("scriptworker.yaml", "rb")
    if not f then
      return ed25519.trusted_keys(nil)
    end
    f:close()
    path = "scriptworker.yaml"
  end
  local f, ferr = io.open(path, "rb")
  if not f then
    return nil, ferr, "io"
  end
  f:close()
  local ok, yaml = pcall(require, "sw.yaml")
  if not ok or type(yaml) ~= "table" or type(yaml.load_file) ~= "function" then
    eprintf("%s: warning: sw.yaml is not available to read %s; using the default keys\n",
      PROG, path)
    return ed25519.trusted_keys(nil)
  end
  local config, err, code = yaml.load_file(path)
  if config == nil then
    err = tostring(err)
    return nil, err:find(path, 1, true) and err or (path .. ": " .. err), code
  end
  if type(config) ~= "table" then
    return nil, path .. ": expected a mapping at the top level", "invalid"
  end
  local keys, kerr, kcode = ed25519.trusted_keys(config.ed25519_public_keys)
  if not keys then
    return nil, path .. ": " .. kerr, kcode
  end
  return keys
end

function M.run(args)
  local opts, perr = parse(args)
  if not opts then
    return usage_error(perr)
  end
  if opts.help then
    io.stdout:write(M.USAGE)
    return 0
  end
  local keys, kerr
  if opts.pubkey then
    keys, kerr = pubkey_keys(opts.pubkey)
  else
    keys, kerr = config_keys(opts.config)
  end
  if not keys then
    eprintf("%s: %s\n", PROG, kerr)
    return 2
  end
  local contents, cerr = read_file(opts.file)
  if not contents then
    eprintf("%s: %s\n", PROG, cerr)
    return 2
  end
  local signature, serr = read_file(opts.sigfile)
  if not signature then
    eprintf("%s: %s\n", PROG, serr)
    return 2
  end
  if #signature ~= 64 then
    eprintf("invalid signature: %s (%s has %d bytes, a signature has 64)\n", opts.file,
      opts.sigfile, #signature)
    return 1
  end
  local signer = ed25519.find_signer(keys, contents, signature)
  if not signer then
    eprintf("invalid signature: %s\n", opts.file)
    return 1
  end
  if signer.impl then
    io.stdout:write(string.format("valid signature: %s (%s key %s)\n", opts.file, signer.impl,
      signer.text))
  else
    io.stdout:write(string.format("valid signature: %s (key %s)\n", opts.file, signer.text))
  end
  return 0
end

return M
