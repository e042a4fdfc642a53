package factors

// Status is a factor type as the host currently sees it.
type Status struct {
	DescribeResponse
	// Healthy is false while the plugin process is down or restarting.
	Healthy bool
	// Configured is every declared setting with its configured value,
	// secrets masked.
	Configured []SettingValue
}
