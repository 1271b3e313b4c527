-- `scriptworker keygen [--force] PRIVATE_PATH PUBLIC_PATH`: a new ed25519
-- key pair in the Python scriptworker's format (base64 of the 32-byte seed,
-- base64 of the public key, no newline). The private key file gets mode
-- 0600 and the public one 0644, each written atomically; existing files are
-- left alone unless --force. Exit status 0 written, 1 not written, 2 usage.
local ed25519 = require("sw.ed25519")

local M = {}

M.USAGE = [[
usage: scriptworker keygen [--force] PRIVATE_PATH PUBLIC_PATH

Writes a new ed25519 key pair: PRIVATE_PATH (mode 0600) holds the base64 of
the 32-byte seed, PUBLIC_PATH (mode 0644) the base64 of the public key, as
the Python scriptworker reads them. Refuses to replace an existing file
unless --force. Prints the public key; never the private one.
]]

function M.run(args)
  local force, paths = false, {}
  for _, a in ipairs(args) do
    if a == "--force" or a == "-f" then
      force = true
    elseif a == "-h" or a == "--help" then
      io.stdout:write(M.USAGE)
      return 0
    elseif a:sub(1, 1) == "-" then
      io.stderr:write("keygen: unknown option ", a, "\n", M.USAGE)
      return 2
    else
      paths[#paths + 1] = a
    end
  end
  if #paths ~= 2 or paths[1] == paths[2] then
    io.stderr:write("keygen: expected two different paths\n", M.USAGE)
    return 2
  end
  local pk, err = ed25519.write_key_pair(paths[1], paths[2], force)
  if not pk then
    io.stderr:write("keygen: ", err, "\n")
    return 1
  end
  io.stdout:write(string.format("wrote private key %s (mode 0600)\n", paths[1]))
  io.stdout:write(string.format("wrote public key %s: %s\n", paths[2],
    ed25519.public_key_to_string(pk)))
  return 0
end

return M
