-- Mozilla's mobile apps on GitHub (mozilla-mobile: reference-browser, firefox-ios).
-- Only reference-browser is a trusted repository; firefox-ios appears only in a restricted tree.
-- Values mirror the Python scriptworker's DEFAULT_CONFIG by-cot-product["mobile"]
-- (tests/unit/policies/products_spec.lua keeps them equal).
return {
  name = "mobile",
  description = "Mozilla's mobile apps on GitHub (mozilla-mobile: reference-browser, firefox-ios)",
  -- How decision tasks are rebuilt: "hg" (hg.mozilla.org) or "github".
  cot_product_type = "github",
  -- Env prefix of the repository variables (<P>_HEAD_REPOSITORY, <P>_HEAD_REV, ...).
  source_env_prefix = "MOBILE",
  -- Owner whose GitHub repositories are not pull requests ("" for hg products).
  official_github_repos_owner = "mozilla-mobile",
  -- Values of extra.tasks_for a decision, cron or action task may carry.
  valid_tasks_for = {
    "action",
    "cron",
    "github-pull-request",
    "github-pull-request-untrusted",
    "github-push",
    "github-release",
  },
  -- provisionerId/workerType of decision and action tasks.
  valid_decision_worker_pools = {
    "mobile-1/decision",
    "mobile-3/decision",
    "mobile-1/decision-gcp",
    "mobile-3/decision-gcp",
  },
  -- provisionerId/workerType of docker-image tasks.
  valid_docker_image_worker_pools = {
    "mobile-1/images",
    "mobile-3/images",
    "mobile-1/images-gcp",
    "mobile-3/images-gcp",
  },
  -- Task types that may run a prebuilt or indexed docker image ("any": all).
  prebuilt_docker_image_task_types = "any",
  -- Trusted repositories: the named group "path" is the repository path.
  trusted_vcs_rules = {
    {
      netlocs = { "github.com" },
      path_regexes = {
        [[^(?P<path>/mozilla-mobile/(?:reference-browser))(/|.git|$)]],
      },
      schemes = { "https", "ssh" },
    },
  },
  -- Restricted scope -> the tree level (cot_restricted_trees) allowed to use it.
  cot_restricted_scopes = {
    ["project:mobile:reference-browser:releng:googleplay:product:reference-browser"] = "reference-browser-repo",
    ["project:mobile:reference-browser:releng:signing:cert:release-signing"] = "reference-browser-repo",
    ["project:mobile:releng:treescript:action:push"] = "firefox-ios-repo",
  },
  -- Tree level -> repository paths.
  cot_restricted_trees = {
    ["firefox-ios-repo"] = { "/mozilla-mobile/firefox-ios" },
    ["reference-browser-repo"] = { "/mozilla-mobile/reference-browser" },
  },
}
