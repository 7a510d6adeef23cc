-- The version each saved version was edited from (the content it started with). Drafts saved
-- before this column existed were always based on the version before them: NULL reads as
-- `version - 1`. Publishing checks that a draft builds on the live version, so a draft made
-- before a rollback cannot silently bring back what was rolled back.
ALTER TABLE guide_versions ADD COLUMN base_version INTEGER;
ALTER TABLE bundle_versions ADD COLUMN base_version INTEGER;
