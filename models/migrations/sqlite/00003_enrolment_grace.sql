-- Written by `make migration NAME=enrolment_grace` from the GORM row types (models/):
-- the statements GORM AutoMigrate ran on a database at the previous migration
-- (on an empty one for the first, the baseline).
-- Reviewed and committed with the model change; never edited once released.

-- +goose Up
ALTER TABLE `policies` ADD `grace_period_days` integer;
ALTER TABLE `policies` ADD `max_enrollment_skips` integer;
ALTER TABLE `policies` ADD `enrollment_reminder_days` text;
CREATE TABLE IF NOT EXISTS `mfa_grace_states` (`user_id` text,`organization_id` text NOT NULL,`required_since` datetime NOT NULL,`skips_used` integer NOT NULL DEFAULT 0,`reminded_days` integer,PRIMARY KEY (`user_id`));
CREATE INDEX IF NOT EXISTS `ix_mfa_grace_states_org` ON `mfa_grace_states`(`organization_id`);

-- +goose Down
DROP INDEX `ix_mfa_grace_states_org`;
DROP TABLE `mfa_grace_states`;
ALTER TABLE `policies` DROP COLUMN `enrollment_reminder_days`;
ALTER TABLE `policies` DROP COLUMN `max_enrollment_skips`;
ALTER TABLE `policies` DROP COLUMN `grace_period_days`;
