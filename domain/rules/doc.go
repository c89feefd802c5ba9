// Package rules is Tower's business rule engine: rules that business people
// edit to tag orders, set severity, route them to work queues and raise
// alerts. A Rule holds an expr-lang (github.com/expr-lang/expr) boolean
// expression; Compile turns it into a Program once, Program.Eval evaluates
// it many times against an Env built by NewEnv from an event, the order's
// twin, caller-computed Features and the time now. Plain Go: no I/O and no
// clock reads (expr's now() is disabled; time is the input `now`).
//
// Immediate rules are evaluated when an event of a kind in Rule.On arrives.
// Deadline rules (Rule.After or Rule.DueExpr set) start a wait on an On
// event, ending at Program.Due; the caller then evaluates the expression on
// the twin as it is at that time, with event = nil. An event of a kind in
// Rule.Until cancels the wait and resolves the rule's alert.
//
// # Bounds
//
// No expression can exhaust the process: each evaluation may take at most
// MaxSteps steps (turns of all/any/map/filter/..., elements a builtin or
// `in` goes through) and build at most MaxBytes of strings and lists, on
// top of expr's own memory budget for ranges, arrays and maps. Compile
// rewrites the expression to count them (the builtins keep their names and
// meaning); an evaluation that goes over fails with a *RuntimeError
// matching ErrOverBounds, like any other rule error.
//
// # Names
//
// Every name an expression can use, also listed in Names (and as Markdown
// by NamesMarkdown). Times are in China Standard Time (UTC+8); time|nil
// values are nil when unknown; strings are "" and numbers 0 when unknown.
//
//	event                          object|nil  the event being evaluated; nil when a deadline is evaluated
//	event.type                     string      order.paid, wms.outbound, courier.failed, ...
//	event.system                   string      channel | erp | wms | courier
//	event.source                   string      the ingest source's name
//	event.at                       time        when it happened
//	event.recovered                bool        found by reconciliation rather than pushed
//	event.data                     object      what the event itself reported
//	event.data.amount              float       amount in yuan; 0 when absent
//	event.data.buyerMessage        string      buyer's message
//	event.data.reason              string      cancel, refund or delivery-failure reason
//	event.data.warehouse           string      warehouse code
//	event.data.courier             string      courier company
//	event.data.trackingNo          string      tracking number
//
//	order                          object      the order's merged facts (latest value from any system)
//	order.channel                  string      tmall | douyin | miniprogram
//	order.orderNo                  string      the channel's order number
//	order.stage                    string      CREATED PAID IN_WAREHOUSE PICKED PACKED OUTBOUND COLLECTED
//	                                           IN_TRANSIT OUT_FOR_DELIVERY DELIVERED CANCELLED REFUNDED
//	                                           DELIVERY_FAILED RETURNED
//	order.amount                   float       amount in yuan; 0 when unknown
//	order.currency                 string      CNY, ...
//	order.items                    list<object> the order lines
//	order.items[].sku              string      SKU
//	order.items[].qty              int         quantity
//	order.items[].price            float       unit price in yuan
//	order.itemCount                int         total quantity over all lines
//	order.buyerId                  string      buyer id
//	order.buyerIp                  string      buyer IP
//	order.buyerMessage             string      buyer's message
//	order.shop                     string      shop
//	order.warehouse                string      warehouse code
//	order.courier                  string      courier company
//	order.trackingNo               string      tracking number
//	order.shipBy                   time|nil    promised ship time
//	order.promisedBy               time|nil    promised delivery time
//	order.receiver                 object      the receiver
//	order.receiver.name            string      name
//	order.receiver.phone           string      phone (may be masked or encrypted by the platform)
//	order.receiver.province        string      province
//	order.receiver.city            string      city
//	order.receiver.district        string      district
//	order.receiver.address         string      street address
//
//	twin                           object      the order's digital twin
//	twin.channel                   string      the channel's latest status word ("paid"), "" if none
//	twin.erp                       string      the ERP's latest status word ("outbound"), "" if none
//	twin.wms                       string      the WMS's latest status word (received picked packed outbound)
//	twin.courier                   string      the courier's latest status word (collected ... returned)
//	twin.at                        map<string,time> latest report time by system: twin.at.wms; zero time if none
//	twin.stage                     string      same as order.stage
//	twin.has                       func(string) bool  twin.has("wms.received"): an event of that kind is on the timeline
//	twin.firstAt                   func(string) time  twin.firstAt("order.paid"): earliest time of that kind; zero time if none
//
//	features                       object      stateful signals computed by the caller (window counts stop at 1000)
//	features.ordersFromIp1h        int         orders from the buyer IP in the last hour, this one included
//	features.ordersFromPhone1h     int         orders to the receiver phone in the last hour, this one included
//	features.ordersFromAddress1h   int         orders to the receiver address in the last hour, this one included
//	features.samePhoneAddressItem10m int       orders with the same phone, address and first SKU in 10 minutes, this one included
//	features.buyerOrderCount       int         the buyer's earlier orders
//	features.buyerMeanAmount       float       their mean amount in yuan
//	features.shopOrderCount        int         the shop's earlier orders
//	features.shopMeanAmount        float       their mean amount in yuan
//	features.skuOrderCount         int         the shop's earlier orders with this main item
//	features.skuMeanAmount         float       their mean amount in yuan
//	features.minutesSincePaid      float       minutes since order.paid; -1 if not paid (computed by NewEnv)
//	features.minutesSinceOutbound  float       minutes since wms.outbound; -1 if none (computed by NewEnv)
//	features.minutesInStage        float       minutes since the current stage began; -1 if no events (computed by NewEnv)
//	features.lastCourierUpdateMinutes float    minutes since the latest courier event; -1 if none (computed by NewEnv)
//
//	now                            time        the evaluation time, given by the caller
//
// Functions, besides expr's built-ins (len, upper, all, any, filter, ...;
// now() is disabled):
//
//	containsAny(s, words)          func(string, list<string>) bool  s contains any non-empty word
//	hasHouseNumber(address)        func(string) bool  a numeral (digits, full-width, 一二三…) before 号/栋/幢/座/室/楼/单元/弄,
//	                                                  a letter before 栋/幢/座, or digits-digits (3-2-501)
//	validPhone(phone)              func(string) bool  mainland mobile, 11 digits starting 1[3-9]; spaces, +86 and an
//	                                                  extension (-1234, 转1234: platform privacy numbers) allowed
//	minutes(d)                     func(duration) float  minutes(now - event.at)
//	isRemote(province)             func(string) bool  新疆 西藏 青海 内蒙古 宁夏 甘肃 海南 (prefix match)
//	duration(s)                    func(string) duration  expr built-in: duration("10m"); times add and compare:
//	                                                  now - event.at > duration("2h"), order.shipBy + duration("30m")
//	date(s)                        func(string) time  expr built-in: date("2025-11-11"), parsed as Beijing time
package rules
