package client

// Validate is validate, for the test that keeps it in step with the
// gatekeeper's check.
var Validate = validate
