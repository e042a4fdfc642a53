-- Written by `make migration NAME=simulate_index` from the GORM row types (models/):
-- the statements GORM AutoMigrate ran on a database at the previous migration
-- (on an empty one for the first, the baseline).
-- Reviewed and committed with the model change; never edited once released.

-- +goose Up
ALTER TABLE `users` ADD `mfa_factor_types` varchar(255) NOT NULL DEFAULT '';
-- Data: the factor types of users who hold active enrollments (as models.syncMFAEnrolled keeps them).
UPDATE `users` SET `mfa_factor_types` = COALESCE((SELECT GROUP_CONCAT(DISTINCT e.factor_type ORDER BY e.factor_type SEPARATOR ',') FROM `enrollments` e WHERE e.user_id = `users`.`id` AND e.status = 'ACTIVE'), '') WHERE `id` IN (SELECT `user_id` FROM `enrollments` WHERE `status` = 'ACTIVE');
CREATE INDEX `ix_users_org_simulate` ON `users`(`organization_id`,`status`,`company_id`,`user_type`,`mfa_enrolled`,`mfa_factor_types`);

-- +goose Down
DROP INDEX `ix_users_org_simulate` ON `users`;
ALTER TABLE `users` DROP COLUMN `mfa_factor_types`;
