// Package models persists Twofold's data with GORM on MySQL/MariaDB or an
// embedded SQLite file, and implements mfa.Store. Rows are private: mfa
// types go in and come out, so nothing above this package sees GORM.
package models
