-- The test vectors of taskcluster/PROTOCOL.md sections 2 and 3.
local hawk = require("sw.hawk")
local sign = require("sw.sign")

local CERT = '{"version":1,"scopes":["queue:reclaim-task:fN1SbArXTPSVFNUvaOlinQ/0",'
  .. '"queue:resolve-task:fN1SbArXTPSVFNUvaOlinQ/0","queue:create-artifact:fN1SbArXTPSVFNUvaOlinQ/0"],'
  .. '"start":1700000000000,"expiry":1700001200000,"seed":"AAAAAAAAQAaAAAAAAAAAAABBBBBBBBQBaBBBBBBBBBBA",'
  .. '"signature":"a0LrTl1tdOLTOTifZGUp9GaVGrzYd1v+UFG0icO7w6I=","issuer":"static/taskcluster/queue"}'
local TEMP_ID = "task-client/fN1SbArXTPSVFNUvaOlinQ/0/on/wg-1/wid-1/until/1700001200"

describe("sw.hawk", function()
  it("V1: permanent credentials, no ext", function()
    local u = assert(hawk.parse_url(
      "https://tc.example.com/api/queue/v1/claim-work/proj-releng%2Flinux-signing"))
    local normalized = hawk.normalized("header", {
      ts = 1700000000, nonce = "abc123", method = "POST",
      resource = u.resource, host = u.host, port = u.port,
    })
    assert.are.equal("hawk.1.header\n1700000000\nabc123\nPOST\n"
      .. "/api/queue/v1/claim-work/proj-releng%2Flinux-signing\ntc.example.com\n443\n\n\n", normalized)
    assert.are.equal("evBABU8dkdb+h6jXRHhiV9iSgt893ZV9dU981UeyxSU=", hawk.mac("no-secret", normalized))
    local header = hawk.header({
      credentials = { clientId = "tester", accessToken = "no-secret" },
      method = "POST",
      url = "https://tc.example.com/api/queue/v1/claim-work/proj-releng%2Flinux-signing",
      ts = 1700000000, nonce = "abc123",
    })
    assert.are.equal('Hawk id="tester", ts="1700000000", nonce="abc123", '
      .. 'mac="evBABU8dkdb+h6jXRHhiV9iSgt893ZV9dU981UeyxSU="', header)
  end)

  it("V2: temporary credentials with the certificate in ext", function()
    local header = hawk.header({
      credentials = {
        clientId = TEMP_ID,
        accessToken = "Go-QpJLEJdaLlTM6GUAmN-4MxL_o7DAQhwel3WwhATU",
        certificate = CERT,
      },
      method = "POST",
      url = "http://127.0.0.1:8080/api/queue/v1/task/fN1SbArXTPSVFNUvaOlinQ/runs/0/reclaim",
      ts = 1700000600, nonce = "n0nce2",
    })
    local ext = sign.b64encode('{"certificate":' .. CERT .. "}")
    assert.are.equal(string.format('Hawk id="%s", ts="1700000600", nonce="n0nce2", ext="%s", '
      .. 'mac="FX4uXYnl2Uv6wGb0RiBDOeGQ4a2veLAnLSX0dk0hQhw="', TEMP_ID, ext), header)
  end)

  it("V2: derives the temporary accessToken and the certificate signature", function()
    local seed = "AAAAAAAAQAaAAAAAAAAAAABBBBBBBBQBaBBBBBBBBBBA"
    assert.are.equal("Go-QpJLEJdaLlTM6GUAmN-4MxL_o7DAQhwel3WwhATU",
      hawk.temporary_access_token("queue-secret-token", seed))
    local cert = {
      version = 1,
      scopes = {
        "queue:reclaim-task:fN1SbArXTPSVFNUvaOlinQ/0",
        "queue:resolve-task:fN1SbArXTPSVFNUvaOlinQ/0",
        "queue:create-artifact:fN1SbArXTPSVFNUvaOlinQ/0",
      },
      start = 1700000000000, expiry = 1700001200000, seed = seed,
      issuer = "static/taskcluster/queue",
    }
    assert.are.equal("a0LrTl1tdOLTOTifZGUp9GaVGrzYd1v+UFG0icO7w6I=",
      hawk.certificate_signature("queue-secret-token", cert, TEMP_ID))
    cert.scopes[1] = "queue:reclaim-task:fN1SbArXTPSVFNUvaOlinQ/1"
    assert.are_not.equal("a0LrTl1tdOLTOTifZGUp9GaVGrzYd1v+UFG0icO7w6I=",
      hawk.certificate_signature("queue-secret-token", cert, TEMP_ID))
  end)

  it("V3: bewit for a signed GET URL", function()
    local bewit = hawk.bewit({
      credentials = { clientId = "tester", accessToken = "no-secret" },
      url = "https://tc.example.com/api/queue/v1/task/fN1SbArXTPSVFNUvaOlinQ/artifacts/"
        .. "private%2Fbuild%2Ftarget.tar.gz",
      now = 1700000000, ttl = 900,
    })
    assert.are.equal("dGVzdGVyXDE3MDAwMDA5MDBcYTZmUm52K0FuQ0tqR2xkY3g4MytDTWJXaE5NcitqK3FHMkQ1cTRlTkNkYz1c",
      bewit)
  end)

  it("payload hashes as PROTOCOL.md gives them", function()
    assert.are.equal("8kvcWtk2AI74LYotos1jC/KLa/z5J9YdZozoRBfYDcg=",
      hawk.payload_hash("application/json; charset=utf-8", '{"reason":"worker-shutdown"}'))
    assert.are.equal("B0weSUXsMcb5UhL41FZbrUJCAotzSI3HawE1NPLRUz8=", hawk.payload_hash(nil, ""))
  end)

  it("includes authorizedScopes in ext", function()
    local ext = hawk.ext(nil, { "queue:get-artifact:private/*" })
    assert.are.equal('{"authorizedScopes":["queue:get-artifact:private/*"]}', sign.b64decode(ext))
    assert.is_nil(hawk.ext(nil, nil))
  end)

  it("escapes backslashes and newlines of ext in the normalized string", function()
    local n = hawk.normalized("header", {
      ts = 1, nonce = "n", method = "get", resource = "/", host = "h", port = 80, ext = "a\\b\nc",
    })
    assert.are.equal("hawk.1.header\n1\nn\nGET\n/\nh\n80\n\na\\\\b\\nc\n", n)
  end)

  it("parses URLs the way Hawk signs them", function()
    assert.are.same({ scheme = "http", host = "127.0.0.1", port = 8080, resource = "/tc/api/x?a=1" },
      hawk.parse_url("http://127.0.0.1:8080/tc/api/x?a=1#frag"))
    assert.are.same({ scheme = "https", host = "example.com", port = 443, resource = "/" },
      hawk.parse_url("https://EXAMPLE.com"))
    assert.are.same({ scheme = "http", host = "::1", port = 9000, resource = "/p" },
      hawk.parse_url("http://[::1]:9000/p"))
    local u, err = hawk.parse_url("ftp://x/")
    assert.is_nil(u)
    assert.are.equal("hawk: unsupported scheme in URL: ftp://x/", err)
    assert.is_nil(hawk.parse_url("not a url"))
  end)

  it("makes nonces of six characters", function()
    local h = hawk.header({
      credentials = { clientId = "c", accessToken = "token-123" }, method = "GET", url = "http://h/",
    })
    assert.matches('nonce="[%w][%w][%w][%w][%w][%w]"', h)
  end)
end)
