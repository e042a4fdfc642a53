-- Written by `make migration NAME=licenses` from the GORM row types (models/):
-- the statements GORM AutoMigrate ran on a database at the previous migration
-- (on an empty one for the first, the baseline).
-- Reviewed and committed with the model change; never edited once released.

-- +goose Up
CREATE TABLE IF NOT EXISTS `licenses` (`organization_id` text,`seats` integer,`used` integer NOT NULL DEFAULT 0,`mfa_subscribed` numeric NOT NULL DEFAULT true,`mfa_enabled` numeric NOT NULL DEFAULT true,`suspended_at` datetime,`alert80_sent` numeric NOT NULL DEFAULT false,`alert100_sent` numeric NOT NULL DEFAULT false,`updated_at` datetime NOT NULL,PRIMARY KEY (`organization_id`));
CREATE TABLE IF NOT EXISTS `license_usage_days` (`organization_id` text,`day` text,`used` integer NOT NULL,`seats` integer,PRIMARY KEY (`organization_id`,`day`));
CREATE TABLE IF NOT EXISTS `billing_contacts` (`user_id` text,`organization_id` text NOT NULL,PRIMARY KEY (`user_id`));
CREATE INDEX IF NOT EXISTS `ix_billing_contacts_org` ON `billing_contacts`(`organization_id`);

-- +goose Down
DROP INDEX `ix_billing_contacts_org`;
DROP TABLE `billing_contacts`;
DROP TABLE `license_usage_days`;
DROP TABLE `licenses`;
