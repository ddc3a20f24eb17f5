package agreement

import "strings"

// Default returns Rollcall's own default agreement, used by a school until
// its headteacher writes one.
func Default() Template {
	return Template{
		Title: "Equipment loan agreement",
		Body: strings.TrimSpace(`
This agreement is between {school} ("the school") and {borrower} ({borrower_email}). The school is lending you the equipment described below. Please read the agreement through before you sign: it is short, and it protects you as well as the school.

Equipment: {kind}, {make} {model}
Serial number: {serial}
Asset tag: {asset_tag}
Reason for the loan: {reason}
Expected return date: {expected_return}
Checks and updates: {check_interval}

Looking after the equipment

The equipment belongs to the school throughout the loan. Please keep it safe and treat it with care. Do not leave it in a car, even out of sight or for a few minutes, and do not leave it unattended in a public place. Keep it in its case or bag where one is provided, away from food, drink and extreme heat or cold, and do not lend it to anyone else, including members of your family.

If the equipment is damaged, lost or stolen, tell the school's IT team or the school office at once. If it is stolen, please report it to the police as well and give the school the crime reference number.

Insurance

The school's insurance covers the equipment only while reasonable care is taken of it. If it is lost, stolen or damaged because it was not looked after with reasonable care, for example because it was left in a car, the insurer may not pay, and you may be asked to contribute towards the cost of repair or replacement. The school will always talk to you first and take into account what happened.

Returning the equipment

Please return the equipment, with all its accessories, whenever the school asks for it, when you leave the school's employment (on or before your last working day), and by the expected return date if one is shown above. Please also bring it in to be checked and updated as often as shown above, and whenever the school asks: this keeps its security up to date and lets problems be caught early.

Using the equipment

The school's acceptable-use policy applies to the equipment as it does to the school's other computers. In particular, do not install unlicensed software or software the school has not approved; keep your passwords to yourself and never write them on or near the equipment; lock the screen whenever you step away; and keep school data, above all information about pupils, on the school's own systems, not on the equipment itself, in personal accounts or on memory sticks.

Private use

The equipment is provided mainly so that you can do your work. Under HM Revenue & Customs rules, equipment an employer provides for work is not taxed as a benefit as long as any private use of it is insignificant, so please keep personal use to a minimum.`),
		Declarations: []string{
			"I am borrowing the {make} {model} with serial number {serial} and asset tag {asset_tag}, and I will tell the school at once if it is not in good working order when it is handed to me.",
			"I will look after the equipment, will not leave it in a car, and will tell the school at once if it is damaged, lost or stolen.",
			"I understand that the school's insurance covers the equipment only when reasonable care is taken of it, and that I may be asked to contribute towards the cost if it is lost or damaged through my negligence.",
			"I will return the equipment when the school asks, when I leave the school's employment, and by the expected return date if there is one, and I will bring it in to be checked and updated as often as shown above.",
			"I will follow the school's acceptable-use policy: I will not install unlicensed software, I will keep my passwords secret, I will lock the screen when I am away from it, and I will keep school data on the school's systems.",
			"I agree that the equipment is provided mainly for my work and that any private use I make of it will be insignificant, so that it is not a taxable benefit.",
		},
	}
}
