-- A bouncer task holds release secrets, so it may only have run on a
-- scriptworker (VERIFY.md section 5: "must be run from scriptworker").
return {
  name = "bouncer",
  description = "Updates the Bouncer download redirector (bouncerscript)",
  worker_impls = { "scriptworker" },
}
