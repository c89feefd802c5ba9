package rules

import (
	"strings"
)

// NameDoc documents one name an expression can use: a variable path
// ("order.receiver.phone") or a function ("containsAny").
type NameDoc struct {
	Name string `json:"name"`
	// Type is one of string, int, float, bool, time, time|nil, duration,
	// object, object|nil, list<…>, map<string,time> or a signature
	// func(…) result.
	Type        string `json:"type"`
	Description string `json:"description"`
}

// Names lists every name an expression can use, for the rule editor and the
// README (see NamesMarkdown). A test keeps it in step with Env and the
// registered functions.
var Names = []NameDoc{
	{"event", "object|nil", "触发本次评估的事件；截止类规则（deadline）到期评估时为 nil（用 event?.type 或 event == nil 判断）"},
	{"event.type", "string", "事件类型，如 order.paid、wms.outbound、courier.failed"},
	{"event.system", "string", "上报系统：channel | erp | wms | courier"},
	{"event.source", "string", "接入源名称（配置中的 source）"},
	{"event.at", "time", "事件发生时间"},
	{"event.recovered", "bool", "是否由对账补录（而非实时推送）"},
	{"event.data", "object", "事件本身携带的数据（未携带的字段为空字符串或 0）"},
	{"event.data.amount", "float", "事件中的金额（元）；未携带为 0"},
	{"event.data.buyerMessage", "string", "事件中的买家留言"},
	{"event.data.reason", "string", "原因，如取消、退款、派送失败原因"},
	{"event.data.warehouse", "string", "事件中的仓库编码"},
	{"event.data.courier", "string", "事件中的快递公司"},
	{"event.data.trackingNo", "string", "事件中的运单号"},

	{"order", "object", "订单合并后的信息（各系统最新上报值）"},
	{"order.channel", "string", "渠道：tmall | douyin | miniprogram"},
	{"order.orderNo", "string", "渠道订单号"},
	{"order.stage", "string", "订单阶段：CREATED PAID IN_WAREHOUSE PICKED PACKED OUTBOUND COLLECTED IN_TRANSIT OUT_FOR_DELIVERY DELIVERED CANCELLED REFUNDED DELIVERY_FAILED RETURNED"},
	{"order.amount", "float", "订单金额（元）；未知为 0"},
	{"order.currency", "string", "币种，如 CNY"},
	{"order.items", "list<object>", "商品行"},
	{"order.items[].sku", "string", "商品编码"},
	{"order.items[].qty", "int", "数量"},
	{"order.items[].price", "float", "单价（元）"},
	{"order.itemCount", "int", "商品总件数（各行数量之和）"},
	{"order.buyerId", "string", "买家 ID"},
	{"order.buyerIp", "string", "下单 IP"},
	{"order.buyerMessage", "string", "买家留言"},
	{"order.shop", "string", "店铺"},
	{"order.warehouse", "string", "仓库编码"},
	{"order.courier", "string", "快递公司"},
	{"order.trackingNo", "string", "运单号"},
	{"order.shipBy", "time|nil", "承诺发货时间；渠道未给出时为 nil"},
	{"order.promisedBy", "time|nil", "承诺送达时间；未给出时为 nil"},
	{"order.receiver", "object", "收件人（未知字段为空字符串）"},
	{"order.receiver.name", "string", "收件人姓名"},
	{"order.receiver.phone", "string", "收件人电话（可能为平台脱敏/加密号码）"},
	{"order.receiver.province", "string", "省"},
	{"order.receiver.city", "string", "市"},
	{"order.receiver.district", "string", "区/县"},
	{"order.receiver.address", "string", "详细地址（不含省市区）"},

	{"twin", "object", "数字孪生：各系统最新状态"},
	{"twin.channel", "string", "渠道系统最新状态词，如 paid、address_changed；未上报为 \"\""},
	{"twin.erp", "string", "ERP 最新状态词，如 outbound；未上报为 \"\""},
	{"twin.wms", "string", "WMS 最新状态词：received picked packed outbound；未上报为 \"\""},
	{"twin.courier", "string", "快递最新状态词：collected in_transit out_for_delivery delivered failed returned；未上报为 \"\""},
	{"twin.at", "map<string,time>", "各系统最新上报时间，键为 channel erp wms courier：twin.at.wms；未上报的系统为零时间"},
	{"twin.stage", "string", "同 order.stage"},
	{"twin.has", "func(string) bool", "twin.has(\"wms.received\")：时间线上是否有该类型事件"},
	{"twin.firstAt", "func(string) time", "twin.firstAt(\"order.paid\")：该类型事件最早时间；没有时为零时间（先用 twin.has 判断）"},

	{"features", "object", "有状态特征，由调用方增量计算后传入"},
	{"features.ordersFromIp1h", "int", "近 1 小时同下单 IP 的订单数（含本单）"},
	{"features.ordersFromPhone1h", "int", "近 1 小时同收件电话的订单数（含本单）"},
	{"features.ordersFromAddress1h", "int", "近 1 小时同收件地址的订单数（含本单）"},
	{"features.samePhoneAddressItem10m", "int", "近 10 分钟同电话+同地址+同首个 SKU 的订单数（含本单）"},
	{"features.buyerOrderCount", "int", "该买家历史订单数（不含本单）"},
	{"features.buyerMeanAmount", "float", "该买家历史订单平均金额（元，不含本单）"},
	{"features.shopOrderCount", "int", "该店铺历史订单数（不含本单）"},
	{"features.shopMeanAmount", "float", "该店铺历史订单平均金额（元，不含本单）"},
	{"features.skuOrderCount", "int", "该店铺以同一主商品下单的历史订单数（不含本单）"},
	{"features.skuMeanAmount", "float", "这些订单的平均金额（元）"},
	{"features.minutesSincePaid", "float", "距付款的分钟数；未付款为 -1"},
	{"features.minutesSinceOutbound", "float", "距出库的分钟数；未出库为 -1"},
	{"features.minutesInStage", "float", "进入当前阶段后的分钟数；无事件为 -1"},
	{"features.lastCourierUpdateMinutes", "float", "距最近一次快递轨迹的分钟数；无轨迹为 -1"},

	{"now", "time", "评估时间（由调用方传入，规则不读系统时钟）"},

	{"containsAny", "func(string, list<string>) bool", "containsAny(s, [\"加急\", \"尽快\"])：s 是否包含任一词（空词忽略）"},
	{"hasHouseNumber", "func(string) bool", "地址是否含门牌：数字（含全角、中文数字）后跟 号/栋/幢/座/室/楼/单元/弄，字母后跟 栋/幢/座，或 数字-数字（如 3-2-501）"},
	{"validPhone", "func(string) bool", "是否为大陆手机号：1[3-9] 开头 11 位；允许 +86/86 前缀、空格和分机号后缀（-1234 或 转1234，平台隐私号）"},
	{"minutes", "func(duration) float", "时长换算为分钟：minutes(now - order.shipBy)"},
	{"isRemote", "func(string) bool", "是否偏远省份：新疆 西藏 青海 内蒙古 宁夏 甘肃 海南（按前缀匹配，如 新疆维吾尔自治区）"},
	{"duration", "func(string) duration", "expr 内置：duration(\"10m\")、duration(\"24h\")；时间可直接加减比较：now - event.at > duration(\"2h\")"},
	{"date", "func(string) time", "expr 内置：date(\"2025-11-11\")、date(\"2025-11-11 20:00:00\")，按北京时间解析"},
}

// NamesMarkdown renders Names as a Markdown table, for the README and the
// rule editor's help panel.
func NamesMarkdown() string {
	var b strings.Builder
	b.WriteString("| Name | Type | Description |\n|---|---|---|\n")
	esc := strings.NewReplacer("|", `\|`, "\n", " ")
	for _, n := range Names {
		b.WriteString("| `" + n.Name + "` | " + esc.Replace(n.Type) + " | " + esc.Replace(n.Description) + " |\n")
	}
	return b.String()
}
