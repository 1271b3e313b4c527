-- Firefox Translations models (mozilla/translations on GitHub).
-- Values mirror the Python scriptworker's DEFAULT_CONFIG by-cot-product["translations"]
-- (tests/unit/policies/products_spec.lua keeps them equal).
return {
  name = "translations",
  description = "Firefox Translations models (mozilla/translations on GitHub)",
  -- How decision tasks are rebuilt: "hg" (hg.mozilla.org) or "github".
  cot_product_type = "github",
  -- Env prefix of the repository variables (<P>_HEAD_REPOSITORY, <P>_HEAD_REV, ...).
  source_env_prefix = "TRANSLATIONS",
  -- Owner whose GitHub repositories are not pull requests ("" for hg products).
  official_github_repos_owner = "mozilla",
  -- Values of extra.tasks_for a decision, cron or action task may carry.
  valid_tasks_for = { "action", "cron", "github-pull-request", "github-push", "pr-action" },
  -- provisionerId/workerType of decision and action tasks.
  valid_decision_worker_pools = { "translations-1/decision", "translations-1/decision-gcp" },
  -- provisionerId/workerType of docker-image tasks.
  valid_docker_image_worker_pools = { "translations-1/images", "translations-1/images-gcp" },
  -- Task types that may run a prebuilt or indexed docker image ("any": all).
  prebuilt_docker_image_task_types = "any",
  -- Trusted repositories: the named group "path" is the repository path.
  trusted_vcs_rules = {
    {
      netlocs = { "github.com" },
      path_regexes = {
        [[^(?P<path>/mozilla/translations)(/|.git|$)]],
      },
      schemes = { "https", "ssh" },
    },
  },
  -- Restricted scope -> the tree level (cot_restricted_trees) allowed to use it.
  cot_restricted_scopes = {
    ["project:translations:releng:beetmover:bucket:release"] = "translations-repo",
  },
  -- Tree level -> repository paths.
  cot_restricted_trees = {
    ["translations-repo"] = { "/mozilla/translations" },
  },
}
