package web

// ClientAddr is clientAddr, for the parser's table test.
var ClientAddr = clientAddr
