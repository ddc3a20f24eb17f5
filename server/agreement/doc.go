// Package agreement holds the text of the loan agreement that staff sign
// when they borrow a school laptop or iPad.
//
// A headteacher writes a [Template]: a title, a body and declarations, with
// placeholders such as {make} and {serial} that [Template.Fill] replaces
// with a loan's [Fields]. [Default] is Rollcall's own wording, used until a
// school writes its own, and [Template.Check] reports what is wrong with a
// template in words a headteacher can act on.
//
// When the borrower signs, the filled template and their [Signature] make a
// [Signed] agreement. [Signed.Text] is the exact text signed, [Signed.Digest]
// its SHA-256, and [Signed.PDF] a printable copy that needs no font files on
// disk: it embeds the Go fonts.
package agreement
