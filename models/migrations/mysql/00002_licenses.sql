-- Written by `make migration NAME=licenses` from the GORM row types (models/):
-- the statements GORM AutoMigrate ran on a database at the previous migration
-- (on an empty one for the first, the baseline).
-- Reviewed and committed with the model change; never edited once released.

-- +goose Up
CREATE TABLE IF NOT EXISTS `licenses` (`organization_id` varchar(36),`seats` bigint,`used` bigint NOT NULL DEFAULT 0,`mfa_subscribed` boolean NOT NULL DEFAULT true,`mfa_enabled` boolean NOT NULL DEFAULT true,`suspended_at` datetime(3) NULL,`alert80_sent` boolean NOT NULL DEFAULT false,`alert100_sent` boolean NOT NULL DEFAULT false,`updated_at` datetime(3) NOT NULL,PRIMARY KEY (`organization_id`))ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE TABLE IF NOT EXISTS `license_usage_days` (`organization_id` varchar(36),`day` varchar(10),`used` bigint NOT NULL,`seats` bigint,PRIMARY KEY (`organization_id`,`day`))ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE TABLE IF NOT EXISTS `billing_contacts` (`user_id` varchar(36),`organization_id` varchar(36) NOT NULL,PRIMARY KEY (`user_id`),INDEX `ix_billing_contacts_org` (`organization_id`))ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- +goose Down
DROP TABLE `billing_contacts`;
DROP TABLE `license_usage_days`;
DROP TABLE `licenses`;
