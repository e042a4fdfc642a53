-- Written by `make migration NAME=enrolment_grace` from the GORM row types (models/):
-- the statements GORM AutoMigrate ran on a database at the previous migration
-- (on an empty one for the first, the baseline).
-- Reviewed and committed with the model change; never edited once released.

-- +goose Up
ALTER TABLE `policies` ADD `grace_period_days` bigint;
ALTER TABLE `policies` ADD `max_enrollment_skips` bigint;
ALTER TABLE `policies` ADD `enrollment_reminder_days` text;
CREATE TABLE IF NOT EXISTS `mfa_grace_states` (`user_id` varchar(36),`organization_id` varchar(36) NOT NULL,`required_since` datetime(3) NOT NULL,`skips_used` bigint NOT NULL DEFAULT 0,`reminded_days` bigint,PRIMARY KEY (`user_id`),INDEX `ix_mfa_grace_states_org` (`organization_id`))ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- +goose Down
DROP TABLE `mfa_grace_states`;
ALTER TABLE `policies` DROP COLUMN `enrollment_reminder_days`;
ALTER TABLE `policies` DROP COLUMN `max_enrollment_skips`;
ALTER TABLE `policies` DROP COLUMN `grace_period_days`;
