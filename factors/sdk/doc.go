// Package sdk is what a factor vendor imports: implement factors.Factor and
// call Serve from main. go-plugin, gRPC and protobuf stay behind it.
//
//	func main() { sdk.Serve(myfactor.New()) }
//
// A plugin's logs reach the Twofold server's log with their level when they
// are written through the logger NewLogger returns (or through the log
// package, which Serve redirects to it).
package sdk
