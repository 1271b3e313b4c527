-- Glean, the telemetry SDK (mozilla/glean on GitHub).
-- Values mirror the Python scriptworker's DEFAULT_CONFIG by-cot-product["glean"]
-- (tests/unit/policies/products_spec.lua keeps them equal).
return {
  name = "glean",
  description = "Glean, the telemetry SDK (mozilla/glean on GitHub)",
  -- How decision tasks are rebuilt: "hg" (hg.mozilla.org) or "github".
  cot_product_type = "github",
  -- Env prefix of the repository variables (<P>_HEAD_REPOSITORY, <P>_HEAD_REV, ...).
  source_env_prefix = "GLEAN",
  -- Owner whose GitHub repositories are not pull requests ("" for hg products).
  official_github_repos_owner = "mozilla",
  -- Values of extra.tasks_for a decision, cron or action task may carry.
  valid_tasks_for = { "action", "cron", "github-pull-request", "github-push", "github-release" },
  -- provisionerId/workerType of decision and action tasks.
  valid_decision_worker_pools = {
    "glean-1/decision",
    "glean-3/decision",
    "glean-1/decision-gcp",
    "glean-3/decision-gcp",
  },
  -- provisionerId/workerType of docker-image tasks.
  valid_docker_image_worker_pools = {
    "glean-1/images",
    "glean-3/images",
    "glean-1/images-gcp",
    "glean-3/images-gcp",
  },
  -- Task types that may run a prebuilt or indexed docker image ("any": all).
  prebuilt_docker_image_task_types = "any",
  -- Trusted repositories: the named group "path" is the repository path.
  trusted_vcs_rules = {
    {
      netlocs = { "github.com" },
      path_regexes = {
        [[^(?P<path>/mozilla/glean)(/|.git|$)]],
      },
      schemes = { "https", "ssh" },
    },
  },
  -- Restricted scope -> the tree level (cot_restricted_trees) allowed to use it.
  cot_restricted_scopes = {
    ["project:mozilla:glean:releng:beetmover:bucket:maven-production"] = "glean-repo",
  },
  -- Tree level -> repository paths.
  cot_restricted_trees = {
    ["glean-repo"] = { "/mozilla/glean" },
  },
}
